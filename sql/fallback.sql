-- For a user with no recommendations (new, or unknown to the last model):
-- the most popular movies (most ratings) the user has not rated, in order.
-- Walks movie_stats by its popularity_rank index and stops at :limit.
-- Parameters: :user_id, :limit.
SELECT s.popularity_rank AS rank, s.movie_id, m.title, m.genres, s.rating_count
FROM movie_stats AS s
LEFT JOIN movies AS m ON m.movie_id = s.movie_id
WHERE NOT EXISTS (
  SELECT 1 FROM ratings AS r WHERE r.user_id = :user_id AND r.movie_id = s.movie_id
)
ORDER BY s.popularity_rank
LIMIT :limit;
