#!/usr/bin/env bash
# Builds rtcrm with everything (tests, examples, benchmarks) and runs the whole test suite.
#
#   scripts/test.sh                      # install dependencies, configure, build, test
#   RTCRM_SKIP_SETUP=1 scripts/test.sh   # skip the apt-get step (dependencies present)
#
# Environment:
#   RTCRM_SKIP_SETUP=1        do not run scripts/setup-debian.sh
#   RTCRM_BUILD_DIR=dir       build directory (default: build, relative to the repository)
#   RTCRM_JOBS=n              parallel compile jobs (default: all cores)
#   RTCRM_CTEST_ARGS="..."    extra ctest arguments, e.g. "-L unit"
# Exits non-zero if any step or any test fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build_dir="${RTCRM_BUILD_DIR:-build}"
jobs="${RTCRM_JOBS:-$(nproc)}"

if [[ "${RTCRM_SKIP_SETUP:-0}" != 1 ]]; then
    "$root/scripts/setup-debian.sh"
fi

# Options are given explicitly so that a build directory configured by hand with other
# values still builds and tests everything.
cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRTCRM_BUILD_TESTS=ON \
    -DRTCRM_BUILD_APPS=ON \
    -DRTCRM_BUILD_EXAMPLES=ON \
    -DRTCRM_BUILD_BENCHMARKS=ON \
    -DRTCRM_SANITIZE=

cmake --build "$build_dir" --parallel "$jobs"

# shellcheck disable=SC2086  # RTCRM_CTEST_ARGS is a list of words on purpose
ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 600 --no-tests=error ${RTCRM_CTEST_ARGS:-}
