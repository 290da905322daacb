-- PostgreSQL: recommendations at login, as sql/login.sql does for SQLite:
-- the user's published top-N with titles and genres, best first, or, for a
-- user with none (new, or unknown to the last model), the most popular
-- movies the user has not rated and the live generation's business filters
-- do not exclude (recs.excluded_movies). `source` says which: 'personal' or
-- 'popular'. rank runs 1..N over the rows returned and continues across
-- pages (offset 10: the first row has rank 11); score is NULL on 'popular'
-- rows; a user with recommendations never gets popular rows.
--
-- Reads the live generation only (the views of schema recs). The personal
-- branch is an index search on the live partition's primary key (one row
-- per user, its list unnested); the popular branch walks movie_stats'
-- popularity index and stops after offset + limit unrated movies (its LIMIT
-- is 0 when the user has recommendations).
-- psql variables: user_id, limit, offset (optional; unset, NULL or negative
-- means 0):  psql -v user_id=1 -v limit=10 -v offset=0 -f sql/postgres/login.sql
-- Columns: rank, movie_id, title, genres, score, source, because_movie_id,
-- because_title.
\if :{?offset}
\else
\set offset NULL
\endif
SELECT r.rank, r.movie_id, m.title, m.genres, r.score, 'personal' AS source,
       r.because_movie_id, b.title AS because_title
FROM recs.recommendations AS r
LEFT JOIN recs.movies AS m ON m.movie_id = r.movie_id
LEFT JOIN recs.movies AS b ON b.movie_id = r.because_movie_id
WHERE r.user_id = :user_id AND r.rank > greatest(coalesce(:offset, 0), 0)
UNION ALL
SELECT greatest(coalesce(:offset, 0), 0) + row_number() OVER (ORDER BY p.popularity_rank),
       p.movie_id, m.title, m.genres, NULL, 'popular', NULL, NULL
FROM (
  SELECT s.movie_id, s.popularity_rank
  FROM recs.movie_stats AS s
  WHERE s.movie_id <> ALL (coalesce(
    (SELECT array_agg(x.movie_id) FROM recs.rated_movies AS x WHERE x.user_id = :user_id),
    '{}'))
    AND NOT EXISTS (SELECT 1 FROM recs.excluded_movies AS e WHERE e.movie_id = s.movie_id)
  ORDER BY s.popularity_rank
  LIMIT CASE WHEN EXISTS (SELECT 1 FROM recs.recommendations AS y WHERE y.user_id = :user_id)
             THEN 0 ELSE :limit END
  OFFSET greatest(coalesce(:offset, 0), 0)
) AS p
LEFT JOIN recs.movies AS m ON m.movie_id = p.movie_id
ORDER BY 1
LIMIT :limit;
