#!/usr/bin/env bash
# demo.sh - profile the bundled demo server and tell its leak from its cache.
#
# Bootstraps (packages + build), runs build/hs_demo_server for 10 s under `heapsampler run`
# with a profile every 250 ms into a fresh temporary directory, shows where the memory is in
# the last profile with `go tool pprof -top` (the reference reader of pprof files), and ends
# with the verdict of `heapsampler leaks` on the whole series: record_session_history a leak suspect,
# cache_insert a plateau. It also writes an HTML report next to the profiles. Extra arguments
# go to the demo server (e.g. --seconds 30).
#
# The run samples every 64 KiB rather than the default 512 KiB: ten seconds hold only 8 MiB of
# cache, 16 samples at the default rate, too few to see it level off; a service profiled for
# hours has the samples at any rate.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

rate=64K
interval=250ms

scripts/bootstrap.sh

outdir=$(mktemp -d "${TMPDIR:-/tmp}/heapsampler-demo.XXXXXX")

echo
echo "== Running the demo server under heapsampler (a profile every $interval, into $outdir)"
build/heapsampler run --rate "$rate" --interval "$interval" --output "$outdir/" -- \
    build/hs_demo_server "$@"

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
echo "== Leak or cache? The trend of every site over the ${#profiles[@]} profiles:"
echo
build/heapsampler leaks --html "$outdir/leaks.html" "$outdir"

echo
echo "${#profiles[@]} profiles and an HTML report ($outdir/leaks.html) are in $outdir. Try:"
echo "  build/heapsampler report $last      # each site with its sampling error"
echo "  build/heapsampler diff $first $last"
echo "  go tool pprof -top -symbolize=none -sample_index=alloc_space $last"
echo "  go tool pprof -http=: -symbolize=none $last"
