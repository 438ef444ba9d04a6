-- Once, when the runs index is created beside a log table that already has rows (e.g. a
-- contrib-created table): index what was written before the view existed.
INSERT INTO ${index}
${select}
