-- API access: refresh tokens (stored as SHA-256 of a 256-bit random value, rotated on every use,
-- revocable one by one or by family) and login attempts (rate limiting shared by every API copy).

CREATE TABLE refresh_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    -- every token issued by rotation from one login shares a family; reuse of a rotated token
    -- revokes the whole family (the token was stolen, or replayed)
    family       uuid NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

CREATE TABLE login_attempts (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username  text NOT NULL,
    client_ip text NOT NULL,
    at        timestamptz NOT NULL,
    ok        boolean NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);
CREATE INDEX login_attempts_ip ON login_attempts (client_ip, at);
