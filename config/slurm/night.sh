#!/bin/sh
# The nightly job on a Slurm cluster: import and train once, the score stage
# as an array of shards once training succeeded, and the publish once every
# shard succeeded. A failed step cancels what depends on it
# (--kill-on-invalid-dep), so nothing half-done goes live.
#
#   config/slurm/night.sh CONFIG [SHARDS]      (prints the three job ids)
#
# CONFIG needs serve.postgres; its database (the SQLite file holding the
# ratings and models) must sit on storage every node mounts. RECS_PIPELINE
# names the binary (default: pipeline on PATH); extra sbatch options (a
# partition, an account) go in SBATCH_* variables, which sbatch reads.
set -eu
CONFIG=${1:?usage: night.sh CONFIG [SHARDS]}
SHARDS=${2:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
export RECS_CONFIG="$CONFIG"
export RECS_PIPELINE="${RECS_PIPELINE:-pipeline}"
train=$(sbatch --parsable --export=ALL "$HERE/train.sbatch")
score=$(sbatch --parsable --export=ALL --array="0-$((SHARDS - 1))" \
  --dependency="afterok:$train" --kill-on-invalid-dep=yes "$HERE/score.sbatch")
publish=$(sbatch --parsable --export=ALL \
  --dependency="afterok:$score" --kill-on-invalid-dep=yes "$HERE/publish.sbatch")
echo "$train $score $publish"
