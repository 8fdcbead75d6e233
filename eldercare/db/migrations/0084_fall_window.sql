-- A fall waits for the resident before anyone is called (the cancel window, and for a soft fall the
-- home's confirmation): status 'pending' until pending_until, when the alert engine raises it,
-- downgrades it or closes it (alerts/fall_window.py). Nothing is notified or escalated while pending.
ALTER TABLE alerts DROP CONSTRAINT alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check CHECK (status IN ('pending', 'open', 'acknowledged', 'resolved'));
ALTER TABLE alerts ADD COLUMN pending_until timestamptz;
CREATE INDEX alerts_pending_due ON alerts (pending_until) WHERE status = 'pending';
