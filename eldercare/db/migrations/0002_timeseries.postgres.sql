-- Time series on plain PostgreSQL (no TimescaleDB): the same tables, columns and queries as the
-- timescaledb variant. activity_hourly is a table refreshed by the services through
-- refresh_activity_hourly(); retention is applied by `eldercare db maintain`.

CREATE TABLE readings (
    home_id      text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    ts           timestamptz NOT NULL,
    metric       text NOT NULL,
    value        double precision NOT NULL,
    room         text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- (device, seq) identifies a reading; ts is part of the key because TimescaleDB requires the
    -- partitioning column in every unique index, and a redelivered reading carries the same ts.
    UNIQUE (device_id, seq, ts)
);
CREATE INDEX readings_home_ts ON readings (home_id, ts DESC);

CREATE TABLE events (
    home_id      text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    ts           timestamptz NOT NULL,
    type         text NOT NULL,
    room         text,
    data         jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, seq, ts)
);
CREATE INDEX events_home_ts ON events (home_id, ts DESC);

CREATE TABLE activity_hourly (
    home_id        text NOT NULL,
    bucket         timestamptz NOT NULL,
    room           text,
    motion_events  bigint NOT NULL,
    door_events    bigint NOT NULL,
    bed_events     bigint NOT NULL,
    power_events   bigint NOT NULL,
    readings       bigint NOT NULL
);
CREATE UNIQUE INDEX activity_hourly_key ON activity_hourly (home_id, bucket, (coalesce(room, '')));

-- Recompute the hourly buckets overlapping [from_ts, to_ts): idempotent, safe to call repeatedly
-- and from several service copies (the delete and insert run in the caller's transaction).
CREATE FUNCTION refresh_activity_hourly(from_ts timestamptz, to_ts timestamptz) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM activity_hourly
     WHERE bucket >= date_trunc('hour', from_ts) AND bucket < to_ts;
    INSERT INTO activity_hourly (home_id, bucket, room, motion_events, door_events, bed_events, power_events, readings)
    SELECT home_id, date_trunc('hour', ts) AS bucket, room,
           count(*) FILTER (WHERE metric = 'motion' AND value > 0),
           count(*) FILTER (WHERE metric = 'door_open' AND value > 0),
           count(*) FILTER (WHERE metric = 'bed_occupied'),
           count(*) FILTER (WHERE metric = 'power_w' AND value > 5),
           count(*)
      FROM readings
     WHERE ts >= date_trunc('hour', from_ts) AND ts < to_ts
     GROUP BY home_id, date_trunc('hour', ts), room;
$$;
