-- The tie-breaker of the total read order (collector_service/store.py): "LineId", unique
-- per stored line, from a sequence (a replayed batch is never stored twice here: the
-- batch ledger skips it). Adding it rewrites the rows stored so far, once. The history
-- indexes end with it, so a cursor is one index range and no two lines compare equal.
CREATE SEQUENCE IF NOT EXISTS "${schema}"."${table}_line_id_seq" AS bigint CACHE 1000;
ALTER TABLE "${schema}"."${table}"
    ADD COLUMN IF NOT EXISTS "LineId" bigint NOT NULL
    DEFAULT nextval('"${schema}"."${table}_line_id_seq"'::regclass);
ALTER SEQUENCE "${schema}"."${table}_line_id_seq" OWNED BY "${schema}"."${table}"."LineId";
-- One task run's history in its order: (seq, time, line id); also finds the copies of a
-- (task run, seq) that reads skip.
DROP INDEX IF EXISTS "${schema}"."${table}_task_run_idx";
CREATE INDEX IF NOT EXISTS "${table}_task_run_idx"
    ON "${schema}"."${table}" ("TaskRunId", "Seq", "TimestampNs", "LineId");
-- A pipeline run's history in time order (task run id, seq and line id break ties).
DROP INDEX IF EXISTS "${schema}"."${table}_pipeline_run_idx";
CREATE INDEX IF NOT EXISTS "${table}_pipeline_run_idx"
    ON "${schema}"."${table}" ("PipelineRunId", "TimestampNs", "TaskRunId", "Seq", "LineId");
