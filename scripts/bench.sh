#!/usr/bin/env bash
# bench.sh - heapsampler's overhead benchmark: builds the library and the benchmark programs
# (bench/), then runs bench/bench.py, which measures heapsampler against a forwarding-only
# interposer (the floor) and no interposer, with heaptrack and jemalloc's profiler beside it when
# they are installed, and the throughput of real servers (redis, PostgreSQL, nginx) with and
# without it, and prints a Markdown report on stdout (progress on stderr).
#
#   scripts/bench.sh [--quick] [--runs N] [--strict] [--servers-only] [--no-build]
#                    [--build-dir DIR]
#
#   --quick       small workloads and 2 runs: checks that everything works (figures are noise)
#   --runs N      timed runs per configuration (default 5), interleaved A B C A B C ...
#   --servers-only  only the real servers' throughput table (about 3 minutes)
#   --strict      exit 1 if an instruction or memory bar is missed (timings never fail it)
#   --no-build    use the programs already built in the build directory
#   --build-dir   the build directory (default: build/, or $HS_BUILD_DIR)
#
# Needs python3; valgrind for the instruction counts (scripts/bootstrap.sh installs it, with
# heaptrack, libjemalloc2 and the servers; PostgreSQL's rows need root, as pg_ctl runs as the
# postgres user). The full run takes about 8 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${HS_BUILD_DIR:-build}
build=1
args=()
while (($# > 0)); do
    case "$1" in
    --no-build) build=0 ;;
    --build-dir) build_dir=$2; shift ;;
    --build-dir=*) build_dir=${1#--build-dir=} ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) args+=("$1") ;;
    esac
    shift
done

if ((build)); then
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHS_BUILD_BENCH=ON \
        --log-level=WARNING >&2
    cmake --build "$build_dir" -j2 --target hs_preload hs_floor hs_bench_churn hs_bench_sample \
        hs_bench_dump hs_bench_rss hs_bench_labels hs_bench_watch hs_bench_reach hs_target_leaker \
        heapsampler_cli hs_demo_server >&2
fi

exec python3 bench/bench.py --build-dir "$build_dir" "${args[@]}"
