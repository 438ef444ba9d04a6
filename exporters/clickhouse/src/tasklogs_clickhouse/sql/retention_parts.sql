-- Active parts per partition of the store's tables: rows and bytes on disk.
SELECT
    table,
    partition,
    partition_id,
    sum(rows) AS rows,
    sum(bytes_on_disk) AS bytes
FROM ${parts}
WHERE active AND database = {database:String} AND table = {table:String}
GROUP BY table, partition, partition_id
ORDER BY partition
