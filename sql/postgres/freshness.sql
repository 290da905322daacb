-- PostgreSQL: for monitoring, one row: how old the live generation is
-- (also before anything was published: then every column is NULL). The run
-- history stays in the pipeline's SQLite database (sql/freshness.sql).
-- Columns: live_age_seconds, published_at, live_run_id, generation,
-- previous_generation.
SELECT CAST(extract(epoch FROM now() - p.published_at) AS bigint) AS live_age_seconds,
       p.published_at, p.run_id AS live_run_id, p.generation, p.previous_generation
FROM (SELECT 1) AS one
LEFT JOIN recs.publication AS p ON true;
