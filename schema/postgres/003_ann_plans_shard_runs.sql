-- score.method: ann's plan of a sharded generation, computed by its first
-- shard and read by the others, so every shard probes the same clusters
-- with the same nprobe (app/ann_plan.h): the index's coarse assignment (one
-- cluster per candidate movie, in candidate order) and the calibrated
-- nprobe with the recall it measured (NULL: a fixed score.ann_nprobe).
-- Dropped with its generation.
CREATE TABLE recs_store.ann_plans (
  generation bigint PRIMARY KEY,
  params text NOT NULL,
  nprobe integer NOT NULL CHECK (nprobe >= 1),
  recall double precision,
  recall_low double precision,
  sample_users bigint NOT NULL,
  clusters integer NOT NULL,
  cluster_of integer[] NOT NULL,
  seconds double precision NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The run history of the shards (pipeline score --shard I/N), which open
-- the SQLite file read-only and so record their runs here: one row per
-- shard process, 'running' from its start, then its outcome, with the
-- columns of the SQLite runs table that apply. A killed shard's row stays
-- 'running' until a later run of the same shard marks it 'abandoned'.
CREATE TABLE recs_store.shard_runs (
  run_id bigserial PRIMARY KEY,
  shard integer NOT NULL,
  shards integer NOT NULL CHECK (shards >= 1 AND shard >= 0 AND shard < shards),
  host text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'refused', 'abandoned')),
  message text,
  config text NOT NULL,
  model_id bigint,
  generation bigint,
  counts jsonb NOT NULL DEFAULT '{}',
  timings jsonb NOT NULL DEFAULT '{}',
  metrics jsonb NOT NULL DEFAULT '{}'
);
