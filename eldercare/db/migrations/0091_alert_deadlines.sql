-- Deadline-driven judging (alerts.deadlines): the periodic pass judges only the homes whose next
-- moment of concern has come, or which have new input, instead of every home every 30 s.
--
-- alert_home_passes.due_at: the home's next moment of concern, stored by the engine after each
-- judgement; '-infinity' = judge at the next pass (a new home, or a change outside ingest).
ALTER TABLE alert_home_passes
    ADD COLUMN due_at   timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN due_kind text;   -- the rule (or relearn, absence, rearm, recheck) that comes due; or the table a trigger saw change
CREATE INDEX alert_home_passes_due ON alert_home_passes (due_at);
INSERT INTO alert_home_passes (home_id, evaluated_at) SELECT id, 'epoch' FROM homes ON CONFLICT (home_id) DO NOTHING;

-- Ingest sets judge_pending with every batch that brings a home data (in the home_state upsert it
-- already makes); the engine clears it in the transaction that judges the home. Only marked rows
-- are indexed: the pass finds them without reading the quiet homes.
ALTER TABLE home_state ADD COLUMN judge_pending boolean NOT NULL DEFAULT true;
CREATE INDEX home_state_judge_pending ON home_state (home_id) WHERE judge_pending;

-- Everything else a rule reads and that can change outside ingest marks the home due, by trigger, in
-- the transaction that makes the change, whoever makes it (the API, the engine, an operator's SQL):
-- rule settings, residents, the absence calendar, devices added, moved or removed, alerts raised,
-- acknowledged or resolved (a fall's long lie, a rule re-armed by a resolution), the home's timezone.
CREATE FUNCTION alert_inputs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- OLD is NULL on INSERT and NEW on DELETE; both name the home(s) concerned.
    IF TG_TABLE_NAME = 'absences' THEN
        UPDATE alert_home_passes p SET due_at = '-infinity', due_kind = TG_TABLE_NAME
          FROM residents r
         WHERE r.id IN (OLD.resident_id, NEW.resident_id) AND p.home_id = r.home_id AND p.due_at > '-infinity';
    ELSIF TG_TABLE_NAME = 'homes' THEN
        UPDATE alert_home_passes SET due_at = '-infinity', due_kind = TG_TABLE_NAME WHERE home_id = NEW.id AND due_at > '-infinity';
    ELSE
        UPDATE alert_home_passes SET due_at = '-infinity', due_kind = TG_TABLE_NAME
         WHERE home_id IN (OLD.home_id, NEW.home_id) AND due_at > '-infinity';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION alert_home_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_home_passes (home_id, evaluated_at) VALUES (NEW.id, 'epoch') ON CONFLICT (home_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER homes_alert_schedule AFTER INSERT ON homes FOR EACH ROW EXECUTE FUNCTION alert_home_added();
CREATE TRIGGER homes_alert_inputs AFTER UPDATE OF timezone ON homes FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION alert_inputs_changed();
CREATE TRIGGER residents_alert_inputs AFTER INSERT OR DELETE OR UPDATE OF rule_settings, home_id ON residents
    FOR EACH ROW EXECUTE FUNCTION alert_inputs_changed();
CREATE TRIGGER absences_alert_inputs AFTER INSERT OR DELETE OR UPDATE ON absences
    FOR EACH ROW EXECUTE FUNCTION alert_inputs_changed();
-- Ingest updates devices on every batch: only a new kind, room or home is a change of input here.
CREATE TRIGGER devices_alert_inputs AFTER INSERT OR DELETE ON devices FOR EACH ROW EXECUTE FUNCTION alert_inputs_changed();
CREATE TRIGGER devices_alert_inputs_update AFTER UPDATE OF kind, room, home_id ON devices FOR EACH ROW
    WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.room IS DISTINCT FROM NEW.room OR OLD.home_id IS DISTINCT FROM NEW.home_id)
    EXECUTE FUNCTION alert_inputs_changed();
CREATE TRIGGER alerts_alert_inputs AFTER INSERT OR UPDATE OF status ON alerts FOR EACH ROW
    EXECUTE FUNCTION alert_inputs_changed();
