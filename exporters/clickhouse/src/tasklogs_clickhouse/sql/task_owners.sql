-- The owner (first writer) of each task run in a batch about to be written.
SELECT TaskRunId, argMinMerge(Tenant)
FROM ${index}
WHERE TaskRunId IN {ids:Array(String)}
GROUP BY TaskRunId
