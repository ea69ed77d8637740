#!/usr/bin/env bash
# demo.sh - profile the bundled demo server and show where its memory goes.
#
# Bootstraps (packages + build), runs build/hs_demo_server for 10 s under `heapsampler run`
# with a profile every second into a fresh temporary directory, then prints the last profile
# with `go tool pprof -top` (in-use bytes, the default sample type). Extra arguments go to the
# demo server (e.g. --seconds 30).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh

outdir=$(mktemp -d "${TMPDIR:-/tmp}/heapsampler-demo.XXXXXX")

echo
echo "== Running the demo server under heapsampler (a profile every second, into $outdir)"
build/heapsampler run --interval 1s --output "$outdir/" -- build/hs_demo_server "$@"

# heapsampler.<pid>.<seq>.pb.gz, one pid: version sort orders them by sequence number.
mapfile -t profiles < <(find "$outdir" -maxdepth 1 -name 'heapsampler.*.pb.gz' -printf '%f\n' |
    sort -V)
if ((${#profiles[@]} == 0)); then
    echo "demo: no profile was written to $outdir" >&2
    exit 1
fi
first="$outdir/${profiles[0]}"
last="$outdir/${profiles[${#profiles[@]} - 1]}"

echo
echo "== Where the memory is at the end of the run (in-use bytes, estimated from samples):"
echo "   record_session_history is the leak (4 KiB per request, never freed), cache_insert the"
echo "   cache that plateaus at 8 MiB, and parse_request's garbage is freed, so it holds ~nothing."
echo
go tool pprof -top -symbolize=none "$last"

echo
echo "${#profiles[@]} profiles are in $outdir. Try:"
echo "  go tool pprof -top -symbolize=none -sample_index=alloc_space $last"
echo "  go tool pprof -top -symbolize=none -diff_base $first $last"
echo "  go tool pprof -http=: -symbolize=none $last"
