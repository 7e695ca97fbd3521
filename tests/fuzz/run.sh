#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan, -O1 -g1) and runs
# each for a bounded time from its seed corpus and regression inputs.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     # default: 6 s each, every target
#   tests/fuzz/run.sh 60 key_scan               # one target for a minute
#
# New inputs the fuzzer finds go to a temporary directory (the seed corpus under
# tests/fuzz/corpus/ stays as written). A crash, a sanitizer finding, a timeout (25 s for
# one input) or running out of memory (2 GiB) stops that target, keeps the input in
# $RTCRM_FUZZ_BUILD_DIR/artifacts/ and makes the script exit non-zero, after running the
# other targets. Replay a kept input with `<build>/tests/fuzz/<target>_fuzz <file>`;
# copy it to tests/fuzz/regressions/<target>/ so the ordinary test suite replays it forever.
#
# Environment:
#   RTCRM_FUZZ_BUILD_DIR=dir   clang build directory (default: build-fuzz in the repository)
#   RTCRM_JOBS=n               parallel compile jobs (default: all cores)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
seconds="${1:-6}"
shift || true
build="${RTCRM_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${RTCRM_JOBS:-$(nproc)}"

# Only what the targets need: no tests, apps, examples or benchmarks, nor the libuv and
# Asio bridges. The sanitizer builds' flags (-O1 -g1), with libFuzzer's coverage added by
# RTCRM_BUILD_FUZZERS.
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DRTCRM_SANITIZE=address,undefined -DRTCRM_BUILD_FUZZERS=ON \
    -DRTCRM_BUILD_TESTS=OFF -DRTCRM_BUILD_APPS=OFF -DRTCRM_BUILD_EXAMPLES=OFF -DRTCRM_BUILD_BENCHMARKS=OFF \
    -DRTCRM_BUILD_GAME_SERVER=OFF -DRTCRM_INSTALL=OFF -DRTCRM_WITH_UV=OFF -DRTCRM_WITH_ASIO=OFF >/dev/null

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for source in tests/fuzz/*_fuzz.cpp; do
        name="$(basename "$source" _fuzz.cpp)"
        if [[ -d "tests/fuzz/corpus/$name" ]]; then
            targets+=("$name")
        fi
    done
fi
cmake --build "$build" --parallel "$jobs" --target "${targets[@]/%/_fuzz}"

work="$(mktemp -d "${TMPDIR:-/tmp}/rtcrm-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/artifacts"
failed=()
for name in "${targets[@]}"; do
    inputs=("tests/fuzz/corpus/$name")
    if [[ -d "tests/fuzz/regressions/$name" ]]; then
        inputs+=("tests/fuzz/regressions/$name")
    fi
    mkdir -p "$work/$name"
    echo "==> fuzz $name for ${seconds}s"
    if ! "$build/tests/fuzz/${name}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 \
            -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "$work/$name" "${inputs[@]}" \
            >"$work/$name.log" 2>&1; then
        # The log's end names the input and shows the stack; the whole log is long.
        tail -n 60 "$work/$name.log"
        failed+=("$name")
    else
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$work/$name.log" || true
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: failed: ${failed[*]} (inputs in $build/artifacts/)"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
