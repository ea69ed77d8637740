#!/usr/bin/env bash
# bench_compress.sh - size and time of gzip (what pprof reads, the default) against zstd
# (HEAPSAMPLER_COMPRESSION=zstd) on large profiles.
#
#   scripts/bench_compress.sh [--reps N] [PROFILE...]
#
# Without profiles it first makes two in a temporary directory (removed at the end):
#   python   python3 with PYTHONMALLOC=malloc running a JSON/regex/collections workload at
#            HEAPSAMPLER_RATE=1: real interpreter stacks and symbol names (a few MB of pprof);
#   stacks   the upload tests' target walking 2^17 distinct call paths at HEAPSAMPLER_RATE=1:
#            131,072 samples (about 7 MB of pprof).
# Then build/hs_bench_compress (bench/compress_bench.c) compresses and decompresses each with
# the library's own settings (gzip level 1, zstd level 3 + checksum), N times (default 7), and
# prints medians, the zstd/gzip ratios of the same run, and one "BENCH compress key=value ..."
# line per profile for scripts/bench.sh to collect.
#
# Needs a build in ${HS_BUILD_DIR:-build} with tests (scripts/bootstrap.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${HS_BUILD_DIR:-build}

reps=()
if [[ ${1:-} == --reps ]]; then
    reps=(--reps "$2")
    shift 2
fi

for f in "$build/hs_bench_compress" "$build/libheapsampler.so"; do
    [[ -e $f ]] || { echo "bench_compress: $f missing: run scripts/bootstrap.sh" >&2; exit 1; }
done

profiles=("$@")
if ((${#profiles[@]} == 0)); then
    work=$(mktemp -d "${TMPDIR:-/tmp}/hs-bench-compress.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    HEAPSAMPLER_RATE=1 HEAPSAMPLER_INTERVAL=0 HEAPSAMPLER_OUTPUT="$work/python" \
        PYTHONMALLOC=malloc LD_PRELOAD="$PWD/$build/libheapsampler.so" \
        python3 -c '
import collections, json, re
d = {str(i): [i, str(i) * 3, {"k": i, "v": [i] * 3}] for i in range(40000)}
s = json.dumps(d)
json.loads(s)
collections.Counter(re.findall(r"\w+", s))
'
    # The python process's own profile (not its helpers'): the largest file.
    profiles+=("$(ls -S "$work"/python.*.pb.gz | head -1)")
    HEAPSAMPLER_RATE=1 HEAPSAMPLER_INTERVAL=0 HEAPSAMPLER_OUTPUT="$work/unused" \
        LD_PRELOAD="$PWD/$build/libheapsampler.so" \
        "$build/tests/hs_target_uploads" stacks - "$work/stacks.pb.gz" 17 >/dev/null
    profiles+=("$work/stacks.pb.gz")
fi

"$build/hs_bench_compress" "${reps[@]}" "${profiles[@]}"
