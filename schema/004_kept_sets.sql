-- recs schema, version 4: published sets kept for `pipeline rollback`.
--
-- A publish does not delete the live set: inside its transaction the live
-- set's tables (recommendations, similar_movies, user_clusters,
-- movie_clusters, cluster_popular) are renamed to <table>_kept<set_id>, its
-- publication row is copied here, and the new set is written into fresh
-- tables created from the live ones' DDL. A rollback renames them back in
-- one transaction. Kept tables carry no secondary index; the indexes are
-- created again on the tables that go live. keep.sets bounds how many are
-- kept; a later migration that changes one of these tables must change
-- (or drop) the kept sets' tables too.

-- One row per kept set that is not live: its publication row as it was.
CREATE TABLE kept_sets (
  set_id INTEGER PRIMARY KEY,         -- its tables are <table>_kept<set_id>
  run_id INTEGER REFERENCES runs (run_id),
  model_id INTEGER REFERENCES models (model_id),
  published_at TEXT NOT NULL,
  user_count INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  top_n INTEGER NOT NULL,
  similar_k INTEGER,
  user_clusters INTEGER,
  movie_clusters INTEGER,
  retired_at TEXT NOT NULL            -- UTC, when it stopped being live
);
