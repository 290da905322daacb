-- "Because you watched X": the movies most similar to :movie_id (cosine of
-- the model's movie vectors), with titles and genres, most similar first.
-- rank runs 1..K (similar_movies holds every rank of a movie) and continues
-- across pages: with :offset 10 the first row has rank 11.
-- An index search on similar_movies' primary key.
-- Parameters: :movie_id (external MovieLens movie id), :limit (rows wanted),
-- :offset (rows to skip; optional: unbound, NULL or negative means 0).
SELECT s.rank, s.similar_movie_id AS movie_id, m.title, m.genres, s.score
FROM similar_movies AS s
LEFT JOIN movies AS m ON m.movie_id = s.similar_movie_id
WHERE s.movie_id = :movie_id AND s.rank > max(coalesce(:offset, 0), 0)
ORDER BY s.rank
LIMIT :limit;
