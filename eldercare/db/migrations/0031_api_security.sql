-- API security: access-token revocation, login throttling per (username, address), the audit log.

-- Bumped on logout, on a reused refresh token, on disabling and on "revoke sessions": an access
-- token carries the generation it was issued under and is refused once the user's has moved on.
ALTER TABLE users ADD COLUMN token_generation integer NOT NULL DEFAULT 0;

-- One row per (username, client address) with recent wrong passwords: how many in a row, and
-- until when that pair must wait. A correct password deletes the row; a day without failures too.
CREATE TABLE login_throttle (
    username        text NOT NULL,
    client_ip       text NOT NULL,
    failures        integer NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz NOT NULL,
    PRIMARY KEY (username, client_ip)
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure_at);

-- Where each user logged in from (90 days): those addresses keep working while the account is
-- being guessed at from elsewhere.
CREATE TABLE login_known_addresses (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_ip  text NOT NULL,
    last_ok_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_ip)
);

CREATE TABLE security_audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    event     text NOT NULL,
    user_id   bigint REFERENCES users (id) ON DELETE SET NULL,   -- whom it concerns
    actor_id  bigint REFERENCES users (id) ON DELETE SET NULL,   -- who did it (an admin); NULL: the system
    username  text,                                            -- as typed at the login form
    client_ip text,
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX security_audit_at ON security_audit (at);
