-- recs schema, version 6: what a published set's business filters exclude.
-- The known movies (in the catalog or rated) that score.exclude_movies,
-- score.exclude_genres or score.allow_movies kept out of the set, as of its
-- publication: the fallback for users without rows (sql/fallback.sql,
-- login.sql's popular rows) skips them, so it never shows a movie the
-- recommendations may not. Empty when no filter is set. Part of the set
-- (renamed with it when kept, restored by a rollback); a set kept before
-- this version restores with an empty one, as it excluded nothing from the
-- fallback.
CREATE TABLE excluded_movies (
  movie_id INTEGER PRIMARY KEY
);
