-- recs schema, version 2: what the nightly job publishes beside the top-N,
-- replaced in the same transaction as recommendations.

-- "Because you watched X": the top-K movies by cosine similarity of the
-- model's movie vectors, never the movie itself.
-- The web app reads: SELECT similar_movie_id, score FROM similar_movies
--                    WHERE movie_id = ? ORDER BY rank
CREATE TABLE similar_movies (
  movie_id INTEGER NOT NULL,
  rank INTEGER NOT NULL CHECK (rank >= 1),
  similar_movie_id INTEGER NOT NULL,
  score REAL NOT NULL,
  PRIMARY KEY (movie_id, rank)
) WITHOUT ROWID;

-- k-means clusters of the model's user and movie vectors, scaled to unit
-- length first (so they group by taste direction, not by popularity, which
-- the vectors' length mostly carries); distance is the Euclidean distance of
-- the unit vector to its cluster's centroid.
CREATE TABLE user_clusters (
  user_id INTEGER PRIMARY KEY,
  cluster INTEGER NOT NULL,
  distance REAL NOT NULL
);
CREATE INDEX user_clusters_by_cluster ON user_clusters (cluster);

CREATE TABLE movie_clusters (
  movie_id INTEGER PRIMARY KEY,
  cluster INTEGER NOT NULL,
  distance REAL NOT NULL
);
CREATE INDEX movie_clusters_by_cluster ON movie_clusters (cluster, distance);

-- The most-rated movies among each user cluster's members, for "popular in
-- your cluster".
CREATE TABLE cluster_popular (
  cluster INTEGER NOT NULL,
  rank INTEGER NOT NULL CHECK (rank >= 1),
  movie_id INTEGER NOT NULL,
  rating_count INTEGER NOT NULL,
  mean_rating REAL NOT NULL,
  PRIMARY KEY (cluster, rank)
) WITHOUT ROWID;

-- What else the live publication holds (NULL = not computed by that run).
ALTER TABLE publication ADD COLUMN similar_k INTEGER;
ALTER TABLE publication ADD COLUMN user_clusters INTEGER;
ALTER TABLE publication ADD COLUMN movie_clusters INTEGER;
