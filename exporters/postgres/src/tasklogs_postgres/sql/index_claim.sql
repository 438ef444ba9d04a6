-- Claim the batch's new task runs for the tenant that writes them first; an owned task
-- run keeps its owner. %(ids)s (sorted, so concurrent writers lock in one order) and
-- %(tenants)s are parallel arrays, one element per task run of the batch. The times are
-- placeholders that index_update.sql's LEAST/GREATEST replace.
-- index_owners.sql then reads every owner back (in a statement of its own: it must see
-- a claim that a concurrent writer committed while this one waited on it).
INSERT INTO "${schema}"."${table}_task_runs" (task_run_id, tenant, first_ns, last_ns)
SELECT c.id, c.tenant, 9223372036854775807, 0
FROM unnest(%(ids)s::text[], %(tenants)s::text[]) AS c(id, tenant)
ORDER BY c.id
ON CONFLICT (task_run_id) DO NOTHING
