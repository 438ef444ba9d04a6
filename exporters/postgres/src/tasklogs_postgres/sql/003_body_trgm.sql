-- Text search in Body: a pg_trgm GIN index serves ILIKE '%...%' (the `text` filter) and
-- the regular-expression filters (~, !~ is a recheck). Full-text search (tsvector) cannot:
-- it matches stemmed words, not substrings or regexes. See README, "PostgreSQL store".
-- Applied only with `text_index: trgm`; the extension exists before this runs.
CREATE INDEX IF NOT EXISTS "${table}_body_trgm"
    ON "${schema}"."${table}" USING gin ("Body" "${extension_schema}".gin_trgm_ops);
