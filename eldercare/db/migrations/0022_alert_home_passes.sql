-- When each home was last judged by a periodic pass of the alert engine. Several engine copies
-- share the periodic work through it: a copy skips a home another copy judged moments ago.
CREATE TABLE alert_home_passes (
    home_id       text PRIMARY KEY REFERENCES homes (id) ON DELETE CASCADE,
    evaluated_at  timestamptz NOT NULL
);
