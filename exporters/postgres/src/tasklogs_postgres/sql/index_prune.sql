-- Retention: index rows of task runs whose last line is older than the cutoff.
DELETE FROM "${schema}"."${table}_task_runs" WHERE last_ns < %(cutoff)s
