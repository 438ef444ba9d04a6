-- How many records a history selection holds, each (task run, seq > 0) once (the same
-- copies history.sql's LIMIT BY keeps one of).
SELECT uniqExact(${key})
FROM ${table}
WHERE ${where}
