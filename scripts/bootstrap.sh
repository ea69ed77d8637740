#!/usr/bin/env bash
# bootstrap.sh - install the Debian packages heapsampler needs, then configure and build it
# into build/ (RelWithDebInfo). Idempotent: when every package is installed already it touches
# neither apt nor the network, and prints nothing but the build's own progress.
#
# Runs as root or through sudo. Works from any working directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Toolchain and build tools; the libraries the profiler links (protobuf-c, libunwind, zlib,
# zstd, elfutils, curl); Criterion for unit tests; Go for `go tool pprof`, the reference reader
# of profiles; python3 for the integration drivers; python3 and sqlite3 are also real programs
# that the tests and benchmarks profile; chromium renders the HTML reports in their test. The
# torture suite: gdb (its watchdog prints the stacks of a hung run), the allocators it preloads
# beneath the profiler (jemalloc, tcmalloc, mimalloc), clang with its libFuzzer runtime (fuzz
# targets). Real servers for the integration tests and the benchmark's server table (redis,
# nginx with wrk, PostgreSQL with pgbench): each test starts its own instance; the services
# their packages would start at installation are not started (see policy-rc.d below).
packages=(
    build-essential
    cmake
    pkg-config
    protobuf-c-compiler
    libprotobuf-c-dev
    libunwind-dev
    zlib1g-dev
    libzstd-dev
    libelf-dev
    libdw-dev
    libiberty-dev  # static C++/Rust demangler, linked into the library
    libcriterion-dev
    golang-go
    python3
    libcurl4-openssl-dev
    libdebuginfod-dev  # heapsampler symbolize: debug files from debuginfod servers (dlopen)
    debuginfod         # tests/cli/test_symbolize.py: a real server to fetch them from
    sqlite3
    chromium
    # scripts/bench.sh: instruction counts (valgrind) and the peers it compares against
    valgrind
    heaptrack
    libjemalloc2
    # the torture suite and the fuzz targets (see the comment above)
    gdb
    libtcmalloc-minimal4
    libmimalloc2.0
    clang
    libclang-rt-dev
    # real servers: tests/preload/test_servers.py, scripts/bench.sh
    redis-server
    redis-tools
    nginx-light
    wrk
    postgresql
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    as_root=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "bootstrap: missing packages: ${missing[*]}" >&2
            echo "bootstrap: not root and sudo is not available; install them as root" >&2
            exit 1
        fi
        as_root=(sudo)
    fi
    echo "bootstrap: installing ${missing[*]}" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # Server packages start their service once installed (redis on 6379, nginx on 80, a
    # PostgreSQL cluster on 5432); the tests need none of them. Debian's policy-rc.d
    # convention refuses the starts for the time of the installation, unless the machine
    # has a policy of its own.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e "$policy" ]]; then
        own_policy=1
        printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
        "${as_root[@]}" chmod 755 "$policy"
        trap '"${as_root[@]}" rm -f "$policy"' EXIT
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if ((own_policy)); then
        "${as_root[@]}" rm -f "$policy"
        trap - EXIT
    fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo --log-level=WARNING
cmake --build build -j2
