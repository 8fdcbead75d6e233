-- Quarantine of messages that crash ingest (see ingest/quarantine.py).
--
-- ingest_runs: one row per ingest session (client id); "running" stays true when a process dies
-- without its clean stop, which makes the next process suspicious of what the broker redelivers.
CREATE TABLE ingest_runs (
    client_id   text PRIMARY KEY,
    running     boolean NOT NULL,
    started_at  timestamptz NOT NULL,
    stopped_at  timestamptz
);

-- ingest_attempts: a redelivered message (MQTT DUP) that a suspicious ingest processes, one at a
-- time. The attempt is counted here, committed, before the message is touched, and the row is
-- deleted in the transaction that stores (or dead-letters) it. A row that survives is a message
-- that was being processed when ingest died; after a few of those the message is dead-lettered as
-- "quarantined" instead of crashing ingest again.
CREATE TABLE ingest_attempts (
    digest      bytea PRIMARY KEY,     -- BLAKE2b-128 of topic, NUL, payload
    attempts    integer NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL
);
