-- For operators: what is published, a few users' recommendations with
-- titles, the newest run's summary and the last runs. Plain SQL for any
-- client; with the sqlite3 client, -header -column (or -box) prints the
-- column names:
--   sqlite3 -readonly -header -column /var/lib/recs/recs.db < sql/latest_run.sql

-- The live set.
SELECT p.published_at, p.run_id, p.model_id, p.user_count AS users, p.row_count AS rows,
       p.top_n
FROM publication AS p;

-- The first three users' top five, best first (title NULL without a catalog).
SELECT r.user_id, r.rank, r.movie_id, m.title, round(r.score, 4) AS score
FROM recommendations AS r
LEFT JOIN movies AS m ON m.movie_id = r.movie_id
WHERE r.user_id IN (SELECT DISTINCT user_id FROM recommendations ORDER BY user_id LIMIT 3)
  AND r.rank <= 5
ORDER BY r.user_id, r.rank;

-- The newest run's summary (runs.summary; NULL where a stage did not run).
SELECT run_id, command, status,
       json_extract(summary, '$.import.ratings') AS ratings,
       json_extract(summary, '$.import.users') AS users,
       json_extract(summary, '$.train.model_id') AS model_id,
       json_extract(summary, '$.train.type') AS model,
       round(json_extract(summary, '$.train.loss'), 4) AS loss,
       round(json_extract(summary, '$.gate.ndcg'), 4) AS ndcg,
       round(json_extract(summary, '$.gate.popularity_ndcg'), 4) AS popularity_ndcg,
       json_extract(summary, '$.publish.rows') AS published,
       round(json_extract(summary, '$.publish.churn'), 4) AS churn,
       round(json_extract(summary, '$.publish.coverage'), 4) AS coverage
FROM runs
ORDER BY run_id DESC
LIMIT 1;

-- The last runs and how they ended.
SELECT run_id, command, started_at, finished_at, status, model_type,
       round(json_extract(timings, '$.total'), 2) AS total_seconds,
       round(json_extract(metrics, '$.val_mse'), 4) AS val_mse, message
FROM runs
ORDER BY run_id DESC
LIMIT 10;
