-- Every change to an alert wakes the API's live streams (NOTIFY eldercare_alerts), whatever wrote
-- it: the alert engine, staff through any API copy, a script. The payload is the alert's centre, so
-- PostgreSQL folds the many rows of one transaction into one wake-up per centre. NOTIFY only wakes:
-- the streams still read the rows themselves, and poll as a backstop.
CREATE FUNCTION eldercare_alert_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eldercare_alerts', NEW.care_centre_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER alerts_notify AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION eldercare_alert_changed();

-- The resident card: what a care worker needs on the phone to an alarm.
ALTER TABLE homes
    ADD COLUMN access_notes text CHECK (length(access_notes) <= 2000);
ALTER TABLE residents
    ADD COLUMN date_of_birth     date,
    ADD COLUMN conditions        text CHECK (length(conditions) <= 2000),
    ADD COLUMN allergies         text CHECK (length(allergies) <= 2000),
    ADD COLUMN medication_notes  text CHECK (length(medication_notes) <= 2000),
    ADD COLUMN updated_at        timestamptz,
    ADD COLUMN updated_by        bigint REFERENCES users (id);

-- Who changed a resident's card, when, and which fields (never the values: health data).
CREATE TABLE resident_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    actor_id     bigint NOT NULL REFERENCES users (id),
    fields       text[] NOT NULL
);
CREATE INDEX resident_changes_resident ON resident_changes (resident_id, at);
