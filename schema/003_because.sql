-- recs schema, version 3: why each movie was recommended.

-- The rated movie that most supports the recommendation ("because you rated
-- X"): the user's liked movie whose vector is most similar to the
-- recommended one's. NULL when the user rated no other movie the model
-- knows, or when the run did not explain (score.explain: false).
ALTER TABLE recommendations ADD COLUMN because_movie_id INTEGER;
