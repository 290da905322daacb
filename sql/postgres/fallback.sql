-- PostgreSQL: as sql/fallback.sql, for a user with no recommendations: the
-- most popular movies (most ratings) the user has not rated, in order, with
-- rating_count, leaving out the movies the live generation's business
-- filters exclude (recs.excluded_movies). rank runs 1..N and continues across pages (offset 10: the
-- first row has rank 11). Walks the live movie_stats by its popularity
-- index and stops after offset + limit unrated movies.
-- psql variables: user_id, limit, offset (optional; unset, NULL or negative
-- means 0):  psql -v user_id=1 -v limit=10 -f sql/postgres/fallback.sql
\if :{?offset}
\else
\set offset NULL
\endif
SELECT greatest(coalesce(:offset, 0), 0) + row_number() OVER (ORDER BY p.popularity_rank) AS rank,
       p.movie_id, m.title, m.genres, p.rating_count
FROM (
  SELECT s.movie_id, s.popularity_rank, s.rating_count
  FROM recs.movie_stats AS s
  WHERE s.movie_id <> ALL (coalesce(
    (SELECT array_agg(x.movie_id) FROM recs.rated_movies AS x WHERE x.user_id = :user_id),
    '{}'))
    AND NOT EXISTS (SELECT 1 FROM recs.excluded_movies AS e WHERE e.movie_id = s.movie_id)
  ORDER BY s.popularity_rank
  LIMIT :limit OFFSET greatest(coalesce(:offset, 0), 0)
) AS p
LEFT JOIN recs.movies AS m ON m.movie_id = p.movie_id
ORDER BY p.popularity_rank;
