-- The runs index: one row per task run, kept by the writer in the same transaction as
-- the COPY of its lines (index_claim.sql, then index_update.sql), so runs pages and
-- task summaries never scan the log table. "tenant" is the first writer's: it owns the
-- task run for good (never updated). Error lines: SeverityNumber >= 17 or
-- log.iostream = stderr. "result"/"exit_code"/"end_ns": the tasklogs.task.end record.
CREATE TABLE IF NOT EXISTS "${schema}"."${table}_task_runs" (
    task_run_id text COLLATE "C" PRIMARY KEY,
    tenant text NOT NULL,
    pipeline_run_id text COLLATE "C" NOT NULL DEFAULT '',
    pipeline_name text NOT NULL DEFAULT '',
    task_name text NOT NULL DEFAULT '',
    service_name text NOT NULL DEFAULT '',
    attempt integer NOT NULL DEFAULT 0,
    first_ns bigint NOT NULL,
    last_ns bigint NOT NULL,
    line_count bigint NOT NULL DEFAULT 0,
    error_count bigint NOT NULL DEFAULT 0,
    first_error_seq bigint,
    max_seq bigint NOT NULL DEFAULT 0,
    result text NOT NULL DEFAULT '',
    exit_code bigint,
    end_ns bigint
);
-- A run's task runs; the runs list groups by run.
CREATE INDEX IF NOT EXISTS "${table}_task_runs_run_idx"
    ON "${schema}"."${table}_task_runs" (pipeline_run_id, first_ns);
-- Retention removes index rows whose last line is gone.
CREATE INDEX IF NOT EXISTS "${table}_task_runs_last_idx"
    ON "${schema}"."${table}_task_runs" (last_ns);
