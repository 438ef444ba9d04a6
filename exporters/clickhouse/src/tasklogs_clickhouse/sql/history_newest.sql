-- The last LIMIT records of a history selection, returned in ascending order: the
-- inner query reads backwards along the sort key, the outer one restores the order.
SELECT * FROM (
${inner}
)
ORDER BY ${order}
