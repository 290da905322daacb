-- PostgreSQL: as sql/popular_in_cluster.sql, "popular in your cluster": the
-- movies most rated by the users in the same k-means cluster as user_id,
-- leaving out what the user has rated, most rated first. rank runs 1..N
-- over the rows returned and continues across pages (offset 10: the first
-- row has rank 11). The cluster's list is its clusters.popular_n most-rated
-- movies, so a user who rated many of them gets fewer than limit rows, or
-- none: top up from sql/postgres/fallback.sql. Index searches on the live user_clusters and
-- cluster_popular partitions' primary keys, stopping after offset + limit
-- unrated movies.
-- psql variables: user_id, limit, offset (optional; unset, NULL or negative
-- means 0):  psql -v user_id=1 -v limit=10 -f sql/postgres/popular_in_cluster.sql
\if :{?offset}
\else
\set offset NULL
\endif
SELECT greatest(coalesce(:offset, 0), 0) + row_number() OVER (ORDER BY q.cluster_rank) AS rank,
       q.movie_id, m.title, m.genres, q.rating_count, q.mean_rating
FROM (
  SELECT p.rank AS cluster_rank, p.movie_id, p.rating_count, p.mean_rating
  FROM recs.user_clusters AS c
  JOIN recs.cluster_popular AS p ON p.cluster = c.cluster
  WHERE c.user_id = :user_id
    AND p.movie_id <> ALL (coalesce(
      (SELECT array_agg(x.movie_id) FROM recs.rated_movies AS x WHERE x.user_id = :user_id),
      '{}'))
  ORDER BY p.rank
  LIMIT :limit OFFSET greatest(coalesce(:offset, 0), 0)
) AS q
LEFT JOIN recs.movies AS m ON m.movie_id = q.movie_id
ORDER BY q.cluster_rank;
