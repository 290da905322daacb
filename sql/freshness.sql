-- For monitoring: how old the live set is and how the last run ended, in
-- one row (also before anything was published: then the live_ columns are
-- NULL). live_age_seconds counts from the publication's published_at; the
-- last run is the newest row of runs, finished or not ('running' while a
-- run is in progress; a run killed before it finished shows 'running' until
-- the next run marks it 'abandoned').
-- Columns: live_age_seconds, published_at, live_run_id, last_run_id,
-- last_command, last_status, last_finished_at, last_message.
SELECT CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', p.published_at) AS INTEGER)
         AS live_age_seconds,
       p.published_at, p.run_id AS live_run_id,
       r.run_id AS last_run_id, r.command AS last_command, r.status AS last_status,
       r.finished_at AS last_finished_at, r.message AS last_message
FROM (SELECT 1) AS one
LEFT JOIN publication AS p ON p.id = 1
LEFT JOIN (SELECT * FROM runs ORDER BY run_id DESC LIMIT 1) AS r ON 1;
