-- For operators: what each k-means cluster of movies holds. Per cluster: its
-- size, the three genres most over-represented in it (share in the cluster,
-- and in the whole catalog of clustered movies), and its three most-rated
-- movies. No parameters.
WITH RECURSIVE split(movie_id, genre, rest) AS (
  SELECT movie_id, '', genres || '|' FROM movies
  UNION ALL
  SELECT movie_id, substr(rest, 1, instr(rest, '|') - 1), substr(rest, instr(rest, '|') + 1)
  FROM split WHERE rest <> ''
),
genre AS (
  SELECT c.cluster, s.genre, count(*) AS n
  FROM split AS s JOIN movie_clusters AS c USING (movie_id)
  WHERE s.genre NOT IN ('', '(no genres listed)')
  GROUP BY c.cluster, s.genre
),
size AS (SELECT cluster, count(*) AS movies FROM movie_clusters GROUP BY cluster),
overall AS (
  SELECT genre, 1.0 * sum(n) / (SELECT count(*) FROM movie_clusters) AS share
  FROM genre GROUP BY genre
),
ranked_genre AS (
  SELECT g.cluster, g.genre, 1.0 * g.n / z.movies AS share, o.share AS catalog_share,
         row_number() OVER (PARTITION BY g.cluster
                            ORDER BY (1.0 * g.n / z.movies) / o.share DESC, g.genre) AS r
  FROM genre AS g JOIN size AS z USING (cluster) JOIN overall AS o USING (genre)
  WHERE g.n >= 3
),
ranked_movie AS (
  SELECT c.cluster, m.title,
         row_number() OVER (PARTITION BY c.cluster
                            ORDER BY coalesce(st.rating_count, 0) DESC, c.movie_id) AS r
  FROM movie_clusters AS c
  JOIN movies AS m USING (movie_id)
  LEFT JOIN movie_stats AS st USING (movie_id)
)
SELECT z.cluster, z.movies,
       (SELECT group_concat(genre || printf(' %d%% (%d%%)', round(100 * share),
                                            round(100 * catalog_share)), ', ')
        FROM ranked_genre AS g WHERE g.cluster = z.cluster AND g.r <= 3) AS top_genres,
       (SELECT group_concat(title, '; ') FROM ranked_movie AS t
        WHERE t.cluster = z.cluster AND t.r <= 3) AS most_rated
FROM size AS z
ORDER BY z.cluster;
