-- For operators: what is published now, and the last runs with their outcome.
SELECT p.published_at, p.run_id, p.model_id, p.user_count, p.row_count, p.top_n
FROM publication AS p;
SELECT run_id, command, started_at, finished_at, status, model_type,
       json_extract(timings, '$.total') AS total_seconds,
       json_extract(metrics, '$.val_mse') AS val_mse, message
FROM runs
ORDER BY run_id DESC
LIMIT 10;
