-- Who watches the watcher. The alert engine checks the platform's own health (is data arriving,
-- are gateways connected, is the inbox judged in time) and records each degradation here while it
-- lasts: at most one open incident per reason, whichever engine copy sees it first. Opening and
-- closing one enqueues a notice to every care centre's duty channels ("alerts may be delayed:
-- call residents at risk"), through the same outbox as alerts, so it is retried and sent once.
CREATE TABLE platform_incidents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason       text NOT NULL CHECK (reason IN ('ingest_stalled', 'gateways_offline', 'inbox_delayed')),
    opened_at    timestamptz NOT NULL,
    clear_since  timestamptz,   -- the condition has been clear since then (closed after the hold time)
    closed_at    timestamptz,
    details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
CREATE UNIQUE INDEX platform_incidents_open ON platform_incidents (reason) WHERE closed_at IS NULL;

-- A notification is about an alert or about a platform incident, never both.
ALTER TABLE notification_outbox
    ALTER COLUMN alert_id DROP NOT NULL,
    ADD COLUMN incident_id bigint REFERENCES platform_incidents (id) ON DELETE CASCADE,
    ADD CONSTRAINT notification_outbox_subject CHECK ((alert_id IS NULL) <> (incident_id IS NULL)),
    DROP CONSTRAINT notification_outbox_purpose_check,
    ADD CONSTRAINT notification_outbox_purpose_check
        CHECK (purpose IN ('opened', 'reminder', 'escalation', 'resolved', 'platform_degraded', 'platform_recovered'));
CREATE INDEX notification_outbox_incident ON notification_outbox (incident_id) WHERE incident_id IS NOT NULL;
