-- Sharded scoring (pipeline score --shard I/N): what each shard stages
-- beside its part of rec_lists, in the same transaction, so a re-run of the
-- shard replaces all of it. The publish (pipeline publish without --model)
-- checks that every part 0..shards-1 of the newest model's generation is
-- staged, sums the cluster counts into cluster_popular and moves the user
-- clusters into the generation's user_clusters. Rows of dropped generations
-- go with them.
CREATE TABLE recs_store.shard_parts (
  generation bigint NOT NULL,
  part integer NOT NULL,
  shards integer NOT NULL CHECK (shards >= 1 AND part < shards),
  PRIMARY KEY (generation, part)
);

CREATE TABLE recs_store.shard_user_clusters (
  generation bigint NOT NULL,
  part integer NOT NULL,
  user_id bigint NOT NULL,
  cluster integer NOT NULL,
  distance real NOT NULL,
  PRIMARY KEY (generation, user_id)
);

-- Per shard: how many of a user cluster's members (in the shard) rated the
-- movie, and the sum of their ratings.
CREATE TABLE recs_store.shard_cluster_counts (
  generation bigint NOT NULL,
  part integer NOT NULL,
  cluster integer NOT NULL,
  movie_id bigint NOT NULL,
  rating_count bigint NOT NULL,
  rating_sum double precision NOT NULL,
  PRIMARY KEY (generation, part, cluster, movie_id)
);
