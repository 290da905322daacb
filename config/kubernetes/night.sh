#!/bin/sh
# The nightly job on Kubernetes: train, then the Indexed Job of shards, then
# the publish, each once the previous one completed. Jobs have no
# dependencies of their own, so this script (a CronJob, or an Argo/Tekton
# step) waits between them; a failed step stops the night before anything
# goes live.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=${RECS_STEP_TIMEOUT:-3h}
for job in recs-train recs-score-shards recs-publish; do
  kubectl delete job "$job" --ignore-not-found
done
kubectl apply -f "$HERE/train.yaml"
kubectl wait --for=condition=complete --timeout="$TIMEOUT" job/recs-train
kubectl apply -f "$HERE/score-shards.yaml"
kubectl wait --for=condition=complete --timeout="$TIMEOUT" job/recs-score-shards
kubectl apply -f "$HERE/publish.yaml"
kubectl wait --for=condition=complete --timeout="$TIMEOUT" job/recs-publish
