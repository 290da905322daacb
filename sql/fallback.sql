-- For a user with no recommendations (new, or unknown to the last model):
-- the most popular movies (most ratings) the user has not rated, in order,
-- leaving out the movies the published set's business filters exclude
-- (score.exclude_movies, exclude_genres, allow_movies: excluded_movies).
-- sql/login.sql serves this itself when the user has no recommendations.
-- rank runs 1..N over the rows returned and continues across pages (with
-- :offset 10 the first row has rank 11). Walks movie_stats' index of the
-- movies not excluded (excluded = 0, as excluded_movies lists the others)
-- in popularity order and stops after :offset + :limit unrated movies, then
-- numbers only those.
-- Parameters: :user_id, :limit (rows wanted), :offset (rows to skip;
-- optional: unbound, NULL or negative means 0).
SELECT max(coalesce(:offset, 0), 0) + row_number() OVER (ORDER BY p.popularity_rank) AS rank,
       p.movie_id, m.title, m.genres, p.rating_count
FROM (
  SELECT s.movie_id, s.popularity_rank, s.rating_count
  FROM movie_stats AS s
  WHERE NOT EXISTS (
    SELECT 1 FROM ratings AS r WHERE r.user_id = :user_id AND r.movie_id = s.movie_id
  )
  AND s.excluded = 0
  ORDER BY s.popularity_rank
  LIMIT :limit OFFSET max(coalesce(:offset, 0), 0)
) AS p
LEFT JOIN movies AS m ON m.movie_id = p.movie_id
ORDER BY p.popularity_rank;
