-- Core relational schema: who is cared for, by whom, with which devices; alerts and their
-- notifications; users; dead letters. Time-series tables are in 0002 (two variants).

CREATE TABLE care_centres (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone     text NOT NULL DEFAULT 'UTC',
    phone        text,
    -- quiet hours for non-critical notifications, local time of the centre; NULL = none
    quiet_start  time,
    quiet_end    time,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_channels (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    care_centre_id  bigint NOT NULL REFERENCES care_centres (id) ON DELETE CASCADE,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('webhook', 'email', 'apprise')),
    target          text NOT NULL,   -- URL, e-mail address or apprise URL
    secret          text,            -- webhook HMAC key; NULL for other kinds
    -- 0: the centre's duty staff, 1: the centre's supervisor (escalation tier)
    tier            smallint NOT NULL DEFAULT 0 CHECK (tier BETWEEN 0 AND 1),
    min_severity    text NOT NULL DEFAULT 'low' CHECK (min_severity IN ('low', 'medium', 'high', 'critical')),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'webhook' OR secret IS NOT NULL)
);
CREATE INDEX notification_channels_centre ON notification_channels (care_centre_id);

CREATE TABLE homes (
    id                      text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_\-]{1,63}$'),  -- = MQTT username
    care_centre_id          bigint NOT NULL REFERENCES care_centres (id),
    label                   text,
    address                 text,
    timezone                text NOT NULL DEFAULT 'UTC',
    mqtt_password_hash      text,    -- argon2/PBKDF2 hash; the broker keeps its own copy
    credentials_rotated_at  timestamptz,
    config_revision         integer NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX homes_centre ON homes (care_centre_id);

CREATE TABLE residents (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    home_id             text NOT NULL REFERENCES homes (id),
    full_name           text NOT NULL,
    birth_year          integer CHECK (birth_year BETWEEN 1900 AND 2100),
    phone               text,
    notes               text,
    -- [{name, relation, phone, email, apprise_url}] in escalation order
    emergency_contacts  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(emergency_contacts) = 'array'),
    -- per-resident overrides of rule parameters, validated by the alert engine
    rule_settings       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rule_settings) = 'object'),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residents_home ON residents (home_id);

CREATE TABLE absences (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    reason       text NOT NULL DEFAULT 'other' CHECK (reason IN ('hospital', 'holiday', 'family_visit', 'other')),
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX absences_resident ON absences (resident_id, starts_at);

-- Devices register themselves on first sight; the latest state is kept here, written by ingest in
-- the same transaction as the readings it derives from.
CREATE TABLE devices (
    id              text PRIMARY KEY,
    home_id         text NOT NULL REFERENCES homes (id),
    kind            text NOT NULL CHECK (kind IN ('motion', 'door', 'bed', 'wearable', 'sos_button', 'plug', 'temperature')),
    room            text,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    battery_pct     real,
    battery_at      timestamptz,
    signal_lqi      smallint,
    last_metric     text,
    last_value      double precision,
    last_value_at   timestamptz
);
CREATE INDEX devices_home ON devices (home_id);

CREATE TABLE home_state (
    home_id            text PRIMARY KEY REFERENCES homes (id),
    last_activity_at   timestamptz,   -- any sign of a person: motion, door, bed, button, plug
    last_motion_at     timestamptz,
    last_motion_room   text,
    last_door_at       timestamptz,
    last_door_state    text,
    gateway_state      text CHECK (gateway_state IN ('online', 'offline')),
    gateway_state_at   timestamptz,
    last_heartbeat_at  timestamptz,
    queue_depth        integer,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username = lower(username) AND length(username) BETWEEN 3 AND 64),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'staff', 'family')),
    care_centre_id  bigint REFERENCES care_centres (id),
    display_name    text,
    email           text,
    locale          text NOT NULL DEFAULT 'zh-CN' CHECK (locale IN ('zh-CN', 'en')),
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'staff' OR care_centre_id IS NOT NULL)
);

CREATE TABLE family_links (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    resident_id  bigint NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    relation     text,
    PRIMARY KEY (user_id, resident_id)
);
CREATE INDEX family_links_resident ON family_links (resident_id);

CREATE TABLE alerts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    home_id             text NOT NULL REFERENCES homes (id),
    resident_id         bigint REFERENCES residents (id),
    care_centre_id      bigint NOT NULL REFERENCES care_centres (id),
    kind                text NOT NULL,   -- fall, long_lie, sos, inactivity, not_up, night_wandering, ...
    severity            text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    explanation_en      text NOT NULL,
    explanation_zh      text NOT NULL,
    evidence            jsonb NOT NULL DEFAULT '{}',
    -- what raised it (e.g. an event's device:seq), so a redelivered event never raises it twice
    source_key          text UNIQUE,
    opened_at           timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES users (id),
    resolved_at         timestamptz,
    resolved_by         bigint REFERENCES users (id),
    outcome             text,
    resolution_note     text,
    assigned_to         bigint REFERENCES users (id),
    escalation_level    smallint NOT NULL DEFAULT 0,
    next_escalation_at  timestamptz
);
-- One open alert per (home, kind): a flapping input updates it instead of raising a storm.
CREATE UNIQUE INDEX alerts_one_open ON alerts (home_id, kind) WHERE status <> 'resolved';
CREATE INDEX alerts_centre_status ON alerts (care_centre_id, status, opened_at DESC);
CREATE INDEX alerts_resident_time ON alerts (resident_id, opened_at DESC);
CREATE INDEX alerts_escalation_due ON alerts (next_escalation_at) WHERE status = 'open';

CREATE TABLE alert_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    actor_id    bigint REFERENCES users (id),   -- NULL: the system
    action      text NOT NULL,   -- opened, updated, acknowledged, resolved, commented, assigned, escalated, reminded
    note        text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, at);

CREATE TABLE notification_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id       bigint REFERENCES notification_channels (id),
    recipient        jsonb,   -- an emergency contact when channel_id is NULL
    purpose          text NOT NULL CHECK (purpose IN ('opened', 'reminder', 'escalation', 'resolved')),
    escalation_level smallint NOT NULL DEFAULT 0,
    -- makes every notification unique: several engine copies can never enqueue it twice
    dedupe_key       text NOT NULL UNIQUE,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    CHECK (channel_id IS NOT NULL OR recipient IS NOT NULL)
);
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_outbox_alert ON notification_outbox (alert_id);

CREATE TABLE notification_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id    bigint NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    ok           boolean NOT NULL,
    duration_ms  integer NOT NULL,
    status_code  integer,
    error        text
);
CREATE INDEX notification_attempts_outbox ON notification_attempts (outbox_id, at);

CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,   -- which service rejected it
    topic        text NOT NULL,
    home_id      text,
    payload      bytea NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_home ON dead_letters (home_id, received_at DESC);
