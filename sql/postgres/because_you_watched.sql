-- PostgreSQL: as sql/because_you_watched.sql, "because you watched X": the
-- movies most similar to movie_id (cosine of the model's movie vectors),
-- with titles and genres, most similar first. rank runs 1..K and continues
-- across pages (offset 10: the first row has rank 11). An index search on
-- the live similar_movies partition's primary key.
-- psql variables: movie_id, limit, offset (optional; unset, NULL or
-- negative means 0):
--   psql -v movie_id=1 -v limit=10 -f sql/postgres/because_you_watched.sql
\if :{?offset}
\else
\set offset NULL
\endif
SELECT s.rank, s.similar_movie_id AS movie_id, m.title, m.genres, s.score
FROM recs.similar_movies AS s
LEFT JOIN recs.movies AS m ON m.movie_id = s.similar_movie_id
WHERE s.movie_id = :movie_id AND s.rank > greatest(coalesce(:offset, 0), 0)
ORDER BY s.rank
LIMIT :limit;
