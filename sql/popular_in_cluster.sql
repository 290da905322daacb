-- "Popular in your cluster": the movies most rated by the users whose
-- vectors fall in the same k-means cluster as :user_id, leaving out what the
-- user has rated, most rated first. Index searches on user_clusters and
-- cluster_popular's primary keys.
-- Parameters: :user_id (external MovieLens user id), :limit (rows wanted).
SELECT p.rank, p.movie_id, m.title, m.genres, p.rating_count, p.mean_rating
FROM user_clusters AS c
JOIN cluster_popular AS p ON p.cluster = c.cluster
LEFT JOIN movies AS m ON m.movie_id = p.movie_id
WHERE c.user_id = :user_id
  AND NOT EXISTS (
    SELECT 1 FROM ratings AS r WHERE r.user_id = :user_id AND r.movie_id = p.movie_id
  )
ORDER BY p.rank
LIMIT :limit;
