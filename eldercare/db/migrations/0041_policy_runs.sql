-- Policy runs that `eldercare db maintain` made in the foreground (CALL run_job). TimescaleDB records
-- only what its background scheduler runs, so without this a policy made good in the foreground
-- would still look as failing or overdue as before. Rows older than 30 days are deleted by maintain.
CREATE TABLE policy_runs (
    id           bigserial PRIMARY KEY,
    policy       text NOT NULL,          -- "readings retention", "activity_hourly refresh", ...
    job_id       integer NOT NULL,       -- TimescaleDB's job id
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    succeeded    boolean NOT NULL,
    error        text                    -- "SQLSTATE: message" when it failed
);
CREATE INDEX policy_runs_job ON policy_runs (job_id, finished_at DESC);
