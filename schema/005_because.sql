-- recs schema, version 5: why each movie was recommended.

-- The rated movie that most supports the recommendation ("because you rated
-- X"): the user's liked movie whose vector is most similar to the
-- recommended one's. NULL when the user rated no other movie the model
-- knows, or when the run did not explain (score.explain: false).
-- Kept sets (schema 4) arrive in the same release as this column, so no
-- database holds a kept set without it; later publishes create the live
-- tables from this DDL, and kept tables are renamed live ones.
ALTER TABLE recommendations ADD COLUMN because_movie_id INTEGER;
