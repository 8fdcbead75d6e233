-- What the alert engine's periodic rules read, without scanning every reading of a home: recent
-- activity (motion, door) for the inactivity, wandering and bathroom rules and routine learning,
-- and recent temperatures for the cold-home rule. Partial indexes, so the bulk of readings
-- (power, humidity, battery...) costs ingest nothing extra.
CREATE INDEX readings_home_activity ON readings (home_id, ts) WHERE metric IN ('motion', 'door_open');
CREATE INDEX readings_home_temperature ON readings (home_id, ts) WHERE metric = 'temperature_c';
