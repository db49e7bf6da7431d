#!/bin/sh
# run.sh [SECONDS [TARGET]] - build a libFuzzer target with clang and fuzz it.
#
# TARGET: fuzz_api (the API, default; seeds in corpus/) or fuzz_http (the
# HTTP gateway's request handling; seeds in corpus_http/).
# Configures (once) a clang build dir, builds tests/fuzz/TARGET only, and
# fuzzes for SECONDS (default 60), starting from the committed seeds. New
# inputs go to a work corpus inside the build dir, never into the source
# tree; a crash leaves its input in $BUILD/fuzz-artifacts/ and fails the run.
# Environment: FUZZ_BUILD_DIR (default build-fuzz at the top of the repo),
# FUZZ_JOBS (parallel fuzzing processes, default 1).
set -eu

seconds=${1:-60}
target=${2:-fuzz_api}
case $target in
    fuzz_api) seeds=corpus suffix= ;;
    fuzz_http) seeds=corpus_http suffix=-http ;;
    *) echo "run.sh: unknown target $target" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-1}

mkdir -p "$build"
build=$(cd "$build" && pwd)
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$root"
fi
ninja -C "$build" tests/fuzz/$target

work="$build/fuzz-corpus$suffix"
artifacts="$build/fuzz-artifacts$suffix"
mkdir -p "$work" "$artifacts"
# With -jobs, libFuzzer writes fuzz-N.log into the current directory.
cd "$build"
parallel=""
if [ "$jobs" -gt 1 ]; then
    parallel="-jobs=$jobs -workers=$jobs"
fi

# detect_leaks stays on (LeakSanitizer after each input that allocated);
# allocator_may_return_null lets impossible ring sizes fail with -ENOMEM.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:detect_leaks=1" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:halt_on_error=1:print_stacktrace=1" \
"$build/tests/fuzz/$target" \
    -max_total_time="$seconds" \
    -timeout=30 \
    $parallel \
    -artifact_prefix="$artifacts/" \
    -print_final_stats=1 \
    "$work" "$root/tests/fuzz/$seeds"
