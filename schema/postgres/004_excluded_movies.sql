-- The movies each generation's business filters (score.exclude_movies,
-- exclude_genres, allow_movies) keep out of its lists: the fallback queries
-- (sql/postgres/fallback.sql, login.sql) leave them out too, as the SQLite
-- ones do with that database's excluded_movies. One partition per
-- generation, made, attached and dropped with the generation's others.
CREATE TABLE recs_store.excluded_movies (
  generation bigint NOT NULL,
  movie_id bigint NOT NULL,
  PRIMARY KEY (generation, movie_id)
) PARTITION BY LIST (generation);

CREATE VIEW recs.excluded_movies AS
SELECT movie_id FROM recs_store.excluded_movies
WHERE generation = (SELECT live FROM recs_store.serving);
