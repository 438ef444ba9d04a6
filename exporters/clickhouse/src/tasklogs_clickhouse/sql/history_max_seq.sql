-- The newest seq of a task run, read from the end of the sort key (TaskRunId, Seq, ...):
-- one granule, where max() would read the task run's whole Seq column.
SELECT ${seq} FROM ${table} WHERE ${task_run} = {task_run_id:String} ORDER BY ${seq} DESC LIMIT 1
