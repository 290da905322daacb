-- recs serving schema on PostgreSQL, version 1. Applied by the pipeline
-- itself (recs_store.schema_version records the version); never edit a
-- released file, add the next one.
--
-- Two schemas: recs_store holds the data, one partition per generation of
-- every table (LIST on generation), and is not for the web app; recs holds
-- what the web app reads, views with the columns of the SQLite tables, each
-- on the live generation only. A generation is made (its partitions created
-- empty and attached), staged (rows copied in, part by part for the
-- recommendations), then made live by moving recs_store.serving.live in one
-- transaction; readers never wait on any of it.

CREATE TABLE recs_store.generations (
  generation bigint PRIMARY KEY,
  model_id bigint,
  run_id bigint,
  state text NOT NULL CHECK (state IN ('staging', 'live', 'previous', 'retired')),
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  user_count bigint,
  row_count bigint,
  top_n integer,
  similar_k integer,
  user_clusters integer,
  movie_clusters integer,
  -- Transactions open when the partitions were attached: making the
  -- generation live waits for them (a statement planned before the attach
  -- would not see the new partitions).
  attach_vxids text[] NOT NULL DEFAULT '{}'
);
CREATE SEQUENCE recs_store.generation_ids OWNED BY recs_store.generations.generation;

-- The one row readers follow: the live generation and the one it replaced.
CREATE TABLE recs_store.serving (
  id integer PRIMARY KEY CHECK (id = 1),
  live bigint,
  previous bigint
);
INSERT INTO recs_store.serving (id) VALUES (1);

-- The parts of a generation's recommendations staged so far.
CREATE TABLE recs_store.parts (
  generation bigint NOT NULL,
  part integer NOT NULL,
  user_count bigint NOT NULL,
  row_count bigint NOT NULL,
  staged_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (generation, part)
);

-- Each user's top-N as arrays, best first (rank = position).
CREATE TABLE recs_store.rec_lists (
  generation bigint NOT NULL,
  part integer NOT NULL,
  user_id bigint NOT NULL,
  movie_ids bigint[] NOT NULL,
  scores real[] NOT NULL,
  because_ids bigint[],
  PRIMARY KEY (generation, user_id)
) PARTITION BY LIST (generation);

CREATE TABLE recs_store.similar_lists (
  generation bigint NOT NULL,
  movie_id bigint NOT NULL,
  similar_ids bigint[] NOT NULL,
  scores real[] NOT NULL,
  PRIMARY KEY (generation, movie_id)
) PARTITION BY LIST (generation);

CREATE TABLE recs_store.user_clusters (
  generation bigint NOT NULL,
  user_id bigint NOT NULL,
  cluster integer NOT NULL,
  distance real NOT NULL,
  PRIMARY KEY (generation, user_id)
) PARTITION BY LIST (generation);
CREATE INDEX user_clusters_by_cluster ON recs_store.user_clusters (generation, cluster);

CREATE TABLE recs_store.movie_clusters (
  generation bigint NOT NULL,
  movie_id bigint NOT NULL,
  cluster integer NOT NULL,
  distance real NOT NULL,
  PRIMARY KEY (generation, movie_id)
) PARTITION BY LIST (generation);
CREATE INDEX movie_clusters_by_cluster ON recs_store.movie_clusters (generation, cluster, distance);

CREATE TABLE recs_store.cluster_popular (
  generation bigint NOT NULL,
  cluster integer NOT NULL,
  rank integer NOT NULL CHECK (rank >= 1),
  movie_id bigint NOT NULL,
  rating_count bigint NOT NULL,
  mean_rating double precision NOT NULL,
  PRIMARY KEY (generation, cluster, rank)
) PARTITION BY LIST (generation);

-- The catalog, popularity and each user's rated movies as of the
-- generation's import, for titles and the fallback.
CREATE TABLE recs_store.movies (
  generation bigint NOT NULL,
  movie_id bigint NOT NULL,
  title text NOT NULL,
  genres text NOT NULL,
  PRIMARY KEY (generation, movie_id)
) PARTITION BY LIST (generation);

CREATE TABLE recs_store.movie_stats (
  generation bigint NOT NULL,
  movie_id bigint NOT NULL,
  rating_count bigint NOT NULL,
  mean_rating double precision NOT NULL,
  popularity_rank bigint NOT NULL,
  PRIMARY KEY (generation, movie_id)
) PARTITION BY LIST (generation);
CREATE UNIQUE INDEX movie_stats_by_rank ON recs_store.movie_stats (generation, popularity_rank);

CREATE TABLE recs_store.rated_lists (
  generation bigint NOT NULL,
  user_id bigint NOT NULL,
  movie_ids bigint[] NOT NULL,
  PRIMARY KEY (generation, user_id)
) PARTITION BY LIST (generation);

-- What the web app reads: the live generation, with the SQLite tables'
-- columns. A filter on user_id (movie_id, cluster) is an index search on
-- the live partition's primary key.
CREATE VIEW recs.recommendations AS
SELECT l.user_id, u.rank, u.movie_id, u.score, u.because_movie_id
FROM recs_store.rec_lists AS l
CROSS JOIN LATERAL unnest(l.movie_ids, l.scores, l.because_ids)
  WITH ORDINALITY AS u (movie_id, score, because_movie_id, rank)
WHERE l.generation = (SELECT live FROM recs_store.serving);

CREATE VIEW recs.similar_movies AS
SELECT l.movie_id, u.rank, u.similar_movie_id, u.score
FROM recs_store.similar_lists AS l
CROSS JOIN LATERAL unnest(l.similar_ids, l.scores) WITH ORDINALITY AS u (similar_movie_id, score, rank)
WHERE l.generation = (SELECT live FROM recs_store.serving);

CREATE VIEW recs.user_clusters AS
SELECT user_id, cluster, distance FROM recs_store.user_clusters
WHERE generation = (SELECT live FROM recs_store.serving);

CREATE VIEW recs.movie_clusters AS
SELECT movie_id, cluster, distance FROM recs_store.movie_clusters
WHERE generation = (SELECT live FROM recs_store.serving);

CREATE VIEW recs.cluster_popular AS
SELECT cluster, rank, movie_id, rating_count, mean_rating FROM recs_store.cluster_popular
WHERE generation = (SELECT live FROM recs_store.serving);

CREATE VIEW recs.movies AS
SELECT movie_id, title, genres FROM recs_store.movies
WHERE generation = (SELECT live FROM recs_store.serving);

CREATE VIEW recs.movie_stats AS
SELECT movie_id, rating_count, mean_rating, popularity_rank FROM recs_store.movie_stats
WHERE generation = (SELECT live FROM recs_store.serving);

-- The movies each user had rated (what the fallback leaves out).
CREATE VIEW recs.rated_movies AS
SELECT l.user_id, u.movie_id
FROM recs_store.rated_lists AS l CROSS JOIN LATERAL unnest(l.movie_ids) AS u (movie_id)
WHERE l.generation = (SELECT live FROM recs_store.serving);

-- Which run and model the live set came from, when, how many rows; and the
-- generation kept for going back.
CREATE VIEW recs.publication AS
SELECT g.generation, g.run_id, g.model_id, g.published_at, g.user_count, g.row_count, g.top_n,
       g.similar_k, g.user_clusters, g.movie_clusters, s.previous AS previous_generation
FROM recs_store.serving AS s JOIN recs_store.generations AS g ON g.generation = s.live;
