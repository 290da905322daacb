-- "Popular in your cluster": the movies most rated by the users whose
-- vectors fall in the same k-means cluster as :user_id, leaving out what the
-- user has rated, most rated first. rank runs 1..N over the rows returned
-- and continues across pages (with :offset 10 the first row has rank 11).
-- The cluster's list is its clusters.popular_n most-rated movies
-- (cluster_popular), so a user who rated many of them gets fewer than :limit
-- rows, or none: top up from sql/fallback.sql.
-- Index searches on user_clusters and cluster_popular's primary keys,
-- stopping after :offset + :limit unrated movies, then numbering only those.
-- Parameters: :user_id (external MovieLens user id), :limit (rows wanted),
-- :offset (rows to skip; optional: unbound, NULL or negative means 0).
SELECT max(coalesce(:offset, 0), 0) + row_number() OVER (ORDER BY q.cluster_rank) AS rank,
       q.movie_id, m.title, m.genres, q.rating_count, q.mean_rating
FROM (
  SELECT p.rank AS cluster_rank, p.movie_id, p.rating_count, p.mean_rating
  FROM user_clusters AS c
  JOIN cluster_popular AS p ON p.cluster = c.cluster
  WHERE c.user_id = :user_id
    AND NOT EXISTS (
      SELECT 1 FROM ratings AS r WHERE r.user_id = :user_id AND r.movie_id = p.movie_id
    )
  ORDER BY p.rank
  LIMIT :limit OFFSET max(coalesce(:offset, 0), 0)
) AS q
LEFT JOIN movies AS m ON m.movie_id = q.movie_id
ORDER BY q.cluster_rank;
