-- Redelivered messages ingest is processing, one at a time (see ingest/quarantine.py).
--
-- The broker marks a message it sends again (MQTT DUP) when the receiver crashed or disconnected
-- while holding it. Ingest counts an attempt here, committed, before it processes such a message,
-- and deletes the row in the transaction that stores (or dead-letters) it. A row that survives
-- is a message that was being processed when ingest died; after a few of those the message is
-- dead-lettered as "quarantined" instead of crashing ingest again.
CREATE TABLE ingest_attempts (
    digest      bytea PRIMARY KEY,     -- BLAKE2b-128 of topic, NUL, payload
    attempts    integer NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL
);
