-- Recommendations at login, in one query: the user's published top-N with
-- titles and genres, best first, or, for a user with none (new, or unknown
-- to the last model), the fallback: the most popular movies (most ratings)
-- the user has not rated, without the movies the published set's business
-- filters exclude (excluded_movies). `source` says which: 'personal' or
-- 'popular'.
-- rank runs 1..N over the rows returned and continues across pages: with
-- :offset 10 the first row has rank 11. score is NULL on 'popular' rows.
-- A user with recommendations never gets popular rows, also past the end
-- of their list.
--
-- The personal branch is an index search on recommendations' primary key
-- (user_id, rank); the popular branch walks movie_stats' popularity index
-- of the movies not excluded (excluded = 0, as excluded_movies lists them)
-- and stops after :offset + :limit unrated movies (its LIMIT is 0 when the
-- user has recommendations, so it reads nothing then), numbering only the
-- rows it kept.
-- Recommendations are stored with ranks 1..N, so rank > :offset skips
-- exactly :offset of them.
-- Parameters: :user_id (external MovieLens user id), :limit (rows wanted),
-- :offset (rows to skip; optional: unbound, NULL or negative means 0).
-- Columns: rank, movie_id, title, genres, score, source, because_movie_id,
-- because_title ("because you rated X": the rated movie that most supports a
-- personal row; NULL on popular rows and when the run did not explain); a
-- new column goes at the end, in both branches.
SELECT r.rank, r.movie_id, m.title, m.genres, r.score, 'personal' AS source,
       r.because_movie_id, b.title AS because_title
FROM recommendations AS r
LEFT JOIN movies AS m ON m.movie_id = r.movie_id
LEFT JOIN movies AS b ON b.movie_id = r.because_movie_id
WHERE r.user_id = :user_id AND r.rank > max(coalesce(:offset, 0), 0)
UNION ALL
SELECT max(coalesce(:offset, 0), 0) + row_number() OVER (ORDER BY p.popularity_rank),
       p.movie_id, m.title, m.genres, NULL, 'popular', NULL, NULL
FROM (
  SELECT s.movie_id, s.popularity_rank
  FROM movie_stats AS s
  WHERE NOT EXISTS (
    SELECT 1 FROM ratings AS x WHERE x.user_id = :user_id AND x.movie_id = s.movie_id
  )
  AND s.excluded = 0
  ORDER BY s.popularity_rank
  LIMIT CASE WHEN EXISTS (SELECT 1 FROM recommendations AS y WHERE y.user_id = :user_id)
             THEN 0 ELSE :limit END
  OFFSET max(coalesce(:offset, 0), 0)
) AS p
LEFT JOIN movies AS m ON m.movie_id = p.movie_id
ORDER BY 1
LIMIT :limit;
