-- State of the alert engine, kept in the database so that a restart (or another engine copy)
-- forgets nothing: per-(home, kind) hysteresis of periodic rules, and each resident's learned
-- routine model (relearned daily from readings).

-- One row per (home, kind) of a periodic rule. `armed` = a new alert may open when the condition
-- holds; it is disarmed when an alert opens and re-armed only after the condition has been clear
-- for the configured hold time, so a flapping input never opens a storm of alerts.
CREATE TABLE alert_rule_state (
    home_id       text NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    armed         boolean NOT NULL DEFAULT true,
    active_since  timestamptz,   -- the condition has held since then (NULL: not holding)
    clear_since   timestamptz,   -- the condition has been clear since then (NULL: holding or never seen)
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (home_id, kind)
);

CREATE TABLE routine_models (
    resident_id      bigint PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    model            jsonb NOT NULL,   -- alerts.inactivity.RoutineModel.to_dict()
    learned_at       timestamptz NOT NULL,
    days_of_history  integer NOT NULL
);
