-- Parts ClickHouse set aside (e.g. found broken at start-up after a full disk): their rows
-- are no longer read. Named at start-up so that such a loss is never silent.
SELECT count(), groupArray(10)(concat(name, ' (', ifNull(reason, ''), ')'))
FROM system.detached_parts
WHERE database = {database:String} AND table = {table:String}
