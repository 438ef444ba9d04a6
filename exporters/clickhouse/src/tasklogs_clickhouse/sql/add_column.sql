-- Bring a table an older tasklogs created up to date (create_schema: true): every column
-- added since is added in place; rows written before read the column's default.
ALTER TABLE ${table} ${on_cluster} ADD COLUMN IF NOT EXISTS ${column}
