-- recs schema, version 7: movie_stats marks the movies the live set's
-- business filters exclude (excluded = 1, as excluded_movies lists them),
-- so the fallback for users without rows walks an index of the others in
-- popularity order instead of probing past every excluded movie: with an
-- allow-list of a few unpopular movies that probed most of the catalog
-- (about 50 ms a query at ML-25M size against under 1 ms). Every import,
-- publish and rollback keeps the mark equal to excluded_movies.
ALTER TABLE movie_stats ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
UPDATE movie_stats SET excluded = 1 WHERE movie_id IN (SELECT movie_id FROM excluded_movies);
CREATE INDEX movie_stats_served_by_rank ON movie_stats (popularity_rank) WHERE excluded = 0;
