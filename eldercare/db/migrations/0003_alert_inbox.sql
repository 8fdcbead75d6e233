-- Hand-over from ingest to the alert engine. Ingest inserts a row here, in the same transaction
-- as the event itself (only when the event is new, so a redelivered event never arrives twice),
-- and for every gateway status change; then it sends NOTIFY eldercare_inbox. Engine copies claim
-- rows with FOR UPDATE SKIP LOCKED and delete them in the transaction that records the outcome:
-- each item is handled exactly once, and nothing is lost when an engine dies mid-way.
CREATE TABLE alert_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    home_id      text NOT NULL,
    device_id    text,             -- NULL for gateway status changes
    seq          bigint,
    ts           timestamptz NOT NULL,
    type         text NOT NULL,    -- fall, sos, door, bed, presence, gateway_status
    room         text,
    data         jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_inbox_order ON alert_inbox (id);
