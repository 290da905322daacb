#!/usr/bin/env bash
# Builds the libFuzzer targets (csv_fuzz, config_fuzz) with clang++ and runs
# each on a copy of its seed corpus (the repo is never written to).
#
# Usage: tests/fuzz/run.sh BUILD_DIR LIMIT [TARGET...]
#   BUILD_DIR  where the binaries, corpus copies and crash artifacts go
#   LIMIT      N    -> -runs=N executions per target
#              Ns   -> -max_total_time=N seconds per target (e.g. 20s)
#   TARGET     csv and/or config (default: both, run concurrently)
# Env: CXX (default clang++-14), FUZZ_ARGS (extra libFuzzer flags),
#      RECS_CORE_LIB (default build/librecs_core.a: the built core library,
#      which config_fuzz links uninstrumented for the model registry),
#      RECS_FUZZ_FILES=1 (csv_fuzz also runs read_ratings/read_movies on
#      header-prefixed inputs; ~10x slower), ASAN_OPTIONS/UBSAN_OPTIONS.
# Exit status: 0 when no target found anything, non-zero otherwise.
# Example CI run: tests/fuzz/run.sh /tmp/fuzz-build 20s
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
BUILD_DIR=$1
LIMIT=$2
shift 2
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=(csv config)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SRC=$ROOT/pipeline
CXX=${CXX:-clang++-14}
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

FLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$SRC" -isystem /usr/include/eigen3 -DEIGEN_DONT_PARALLELIZE)
LIBS=(-lyaml-cpp -lfmt -ltbb -lpthread)

build() {
  local name=$1
  shift
  echo "== building ${name}_fuzz" >&2
  "$CXX" "${FLAGS[@]}" "$HERE/${name}_fuzz.cpp" "$@" -o "$BUILD_DIR/${name}_fuzz" "${LIBS[@]}"
}

if [[ $LIMIT == *s ]]; then
  LIMIT_FLAG=-max_total_time=${LIMIT%s}
else
  LIMIT_FLAG=-runs=$LIMIT
fi

# A smaller quarantine than ASan's 256 MB roughly halves the page-fault cost of
# yaml-cpp's many small allocations; one input never frees anywhere near 32 MB.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=32}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ -f $HERE/lsan.supp ]]; then
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$HERE/lsan.supp:print_suppressions=0}
fi

pids=()
names=()
for t in "${TARGETS[@]}"; do
  case $t in
    csv)
      build csv "$SRC/io/csv.cpp" "$SRC/io/movielens.cpp" "$SRC/util/log.cpp" "$SRC/util/progress.cpp"
      max_len=4096 ;;
    config)
      # The loader is instrumented; the model registry it asks for each
      # type's keys (and the models behind it) come uninstrumented from the
      # core library, so they need no rebuild here. Objects given on the
      # command line win over the library's copies of the same file.
      core=${RECS_CORE_LIB:-$ROOT/build/librecs_core.a}
      if [[ ! -f $core ]]; then
        echo "config_fuzz needs the built core library: $core (set RECS_CORE_LIB)" >&2
        exit 2
      fi
      build config "$SRC/config/config.cpp" "$SRC/config/params.cpp" "$core"
      max_len=2048 ;;
    *) echo "unknown target: $t" >&2; exit 2 ;;
  esac
  work=$BUILD_DIR/$t
  rm -rf "$work/corpus" "$work/artifacts" "$work/fuzz-0.log"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$HERE/corpus/$t/"* "$work/corpus/"
  echo "== running ${t}_fuzz ($LIMIT_FLAG), log: $work/fuzz.log" >&2
  (cd "$work" && exec "$BUILD_DIR/${t}_fuzz" -jobs=1 -workers=1 "$LIMIT_FLAG" \
       -max_len=$max_len -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
       ${FUZZ_ARGS:-} "$work/corpus" >"$work/fuzz.log" 2>&1) &
  pids+=($!)
  names+=("$t")
done

status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "== ${names[$i]}_fuzz: no findings" >&2
  else
    status=1
    echo "== ${names[$i]}_fuzz: FINDING, see $BUILD_DIR/${names[$i]}/ (fuzz.log, artifacts/)" >&2
    tail -n 40 "$BUILD_DIR/${names[$i]}/fuzz-0.log" "$BUILD_DIR/${names[$i]}/fuzz.log" >&2 2>/dev/null || true
  fi
  # -jobs=1 writes the worker's own output to fuzz-0.log
  if [[ -f $BUILD_DIR/${names[$i]}/fuzz-0.log ]]; then
    grep -E '^(#[0-9]+ +DONE|stat::)' "$BUILD_DIR/${names[$i]}/fuzz-0.log" >&2 || true
  fi
  # Any crash/leak/timeout/oom reproducer counts as a finding.
  if compgen -G "$BUILD_DIR/${names[$i]}/artifacts/*" >/dev/null; then
    status=1
    ls -l "$BUILD_DIR/${names[$i]}/artifacts/" >&2
  fi
done
exit $status
