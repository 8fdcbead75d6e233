-- Each home's retained gateway config (contract kind `config`), published by ingest.
--
-- Whatever changes what a config carries (a home registered or its timezone changed, a resident
-- added or their rule settings changed, a device registered, moved or removed) adds a row to
-- home_config_outbox, by trigger, in the transaction that makes the change: a change that commits
-- is published even if the process that made it dies right after, whoever wrote it (the API,
-- ingest, the simulator, an operator's SQL). Ingest drains the outbox (ingest/configs.py) and
-- keeps the latest revision in home_configs, which it republishes as is on start and on a
-- schedule, so a broker that lost its retained messages gets them back.

CREATE TABLE home_configs (
    home_id       text PRIMARY KEY REFERENCES homes (id) ON DELETE CASCADE,
    -- milliseconds of the database clock when built, above the previous: it grows across a restore
    -- of the database too, and a gateway applies only a higher revision than it has
    revision      bigint NOT NULL,
    payload       bytea NOT NULL,   -- the message as published (committed before it is sent)
    published_at  timestamptz NOT NULL
);

CREATE TABLE home_config_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    home_id     text NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    cause       text NOT NULL CHECK (cause IN ('home', 'residents', 'devices')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX home_config_outbox_home ON home_config_outbox (home_id, id);

CREATE FUNCTION home_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0] is the cause; OLD and NEW may name different homes (a resident or device moved).
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO home_config_outbox (home_id, cause)
        SELECT OLD.home_id, TG_ARGV[0] WHERE EXISTS (SELECT 1 FROM homes WHERE id = OLD.home_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.home_id IS DISTINCT FROM OLD.home_id) THEN
        INSERT INTO home_config_outbox (home_id, cause) VALUES (NEW.home_id, TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION home_config_home_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO home_config_outbox (home_id, cause) VALUES (NEW.id, 'home');
    RETURN NULL;
END
$$;

CREATE TRIGGER homes_config AFTER INSERT ON homes FOR EACH ROW EXECUTE FUNCTION home_config_home_changed();
CREATE TRIGGER homes_config_update AFTER UPDATE OF timezone ON homes FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION home_config_home_changed();

CREATE TRIGGER residents_config AFTER INSERT OR DELETE ON residents FOR EACH ROW
    EXECUTE FUNCTION home_config_changed('residents');
CREATE TRIGGER residents_config_update AFTER UPDATE OF rule_settings, home_id ON residents FOR EACH ROW
    WHEN (OLD.rule_settings IS DISTINCT FROM NEW.rule_settings OR OLD.home_id IS DISTINCT FROM NEW.home_id)
    EXECUTE FUNCTION home_config_changed('residents');

-- Ingest updates devices on every batch (last seen, battery...): the WHEN clause keeps those
-- updates free of the trigger; only a new kind, room or home is a config change.
CREATE TRIGGER devices_config AFTER INSERT OR DELETE ON devices FOR EACH ROW
    EXECUTE FUNCTION home_config_changed('devices');
CREATE TRIGGER devices_config_update AFTER UPDATE OF kind, room, home_id ON devices FOR EACH ROW
    WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.room IS DISTINCT FROM NEW.room OR OLD.home_id IS DISTINCT FROM NEW.home_id)
    EXECUTE FUNCTION home_config_changed('devices');

-- Homes registered before this migration get their first config too.
INSERT INTO home_config_outbox (home_id, cause) SELECT id, 'home' FROM homes;
