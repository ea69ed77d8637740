#!/usr/bin/env bash
# test.sh - the whole test suite on a fresh Debian machine, in three stages:
#   1. bootstrap (packages + build/), then every test ctest knows in build/: Criterion unit
#      tests, concurrency tests, fuzz corpus replays, preload drivers, CLI tests, the torture
#      suite;
#   2. build-asan/ (clang, -DHS_SANITIZE=address,undefined -DHS_FUZZ=ON): the unit tests, each
#      fuzz target for HS_FUZZ_SECONDS seconds (default 20) from its corpus, and the CLI tests
#      against that build's heapsampler;
#   3. build-tsan/ (clang, -DHS_SANITIZE=thread): the concurrency tests (label tsan).
# A failing test does not stop the later stages; the exit status is 1 if any test failed (a
# failing build or bootstrap stops the script at once). Extra arguments go to stage 1's ctest
# (e.g. -L unit, -R cli/) and skip stages 2 and 3; HS_TEST_SANITIZERS=0 skips them too.
# HS_TORTURE_SCALE=N multiplies the torture counts.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
if (($# > 0)); then
    exec ctest --test-dir build --output-on-failure -j2 "$@"
fi
failed=()
run_tests() { # name, command...
    local name=$1
    shift
    "$@" || failed+=("$name")
}
finish() {
    if ((${#failed[@]} > 0)); then
        echo "test.sh: FAILED: ${failed[*]}" >&2
        exit 1
    fi
    echo "test.sh: all stages passed" >&2
}

run_tests build ctest --test-dir build --output-on-failure -j2
if [[ "${HS_TEST_SANITIZERS:-1}" == 0 ]]; then
    finish
    exit 0
fi

# The sanitizer builds never build the preloaded library (a sanitizer runtime cannot be
# preloaded into a program); the CLI of build-asan finds the plain one next to it.
configure() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DCMAKE_CXX_COMPILER=clang++ --log-level=WARNING "$@"
}

echo "test.sh: ASan+UBSan build (unit tests, fuzzing, CLI)" >&2
configure build-asan -DHS_SANITIZE=address,undefined -DHS_FUZZ=ON
cmake --build build-asan -j2 --target hs_unit_tests hs_fuzzers heapsampler_cli
run_tests build-asan ctest --test-dir build-asan --output-on-failure -j2 -L 'unit|fuzz'
ln -sf "$PWD/build/libheapsampler.so" build-asan/libheapsampler.so
HS_CLI="$PWD/build-asan/heapsampler" run_tests build-asan-cli \
    ctest --test-dir build --output-on-failure -j2 -R '^cli/'

echo "test.sh: TSan build (concurrency tests)" >&2
configure build-tsan -DHS_SANITIZE=thread
cmake --build build-tsan -j2 --target hs_tsan_tests
# Without address-space randomisation: TSan's fixed memory layout then fits whatever the
# kernel's mmap entropy is.
run_tests build-tsan setarch "$(uname -m)" -R ctest --test-dir build-tsan --output-on-failure \
    -j2 -L tsan
finish
