#!/usr/bin/env bash
# test.sh - the whole test suite on a fresh Debian machine: bootstrap (packages + build), then
# every test ctest knows (Criterion unit tests, preload drivers, CLI tests). The exit status is
# ctest's. Extra arguments go to ctest (e.g. -L unit, -R cli/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
exec ctest --test-dir build --output-on-failure -j2 "$@"
