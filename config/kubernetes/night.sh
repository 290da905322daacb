#!/bin/sh
# The nightly job on Kubernetes: train, then the Indexed Job of shards, then
# the publish, each once the previous one completed. Jobs have no
# dependencies of their own, so this script (a CronJob, or a workflow
# engine's step) waits between them; a failed step stops the night before
# anything goes live (exit 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
# Waits until job $1 is Complete (returns) or Failed (exits 1).
wait_job() {
  while :; do
    state=$(kubectl get job "$1" -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
    case "$state" in
      *Failed*) echo "job $1 failed" >&2; exit 1 ;;
      *Complete*) return 0 ;;
    esac
    sleep 10
  done
}
for job in recs-train recs-score-shards recs-publish; do
  kubectl delete job "$job" --ignore-not-found
done
kubectl apply -f "$HERE/train.yaml"
wait_job recs-train
kubectl apply -f "$HERE/score-shards.yaml"
wait_job recs-score-shards
kubectl apply -f "$HERE/publish.yaml"
wait_job recs-publish
