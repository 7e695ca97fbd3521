#!/usr/bin/env bash
# The cost of an experiment: `rtcrm-bench --scripts` with the example scripts, once as they
# are and once with the frustrated-fighter campaign given a holdout, two variants and a
# goal (lua/examples/experiments/frustrated_fighter_ab.lua). Prints both commands' output.
# Usage: benchmarks/experiment_bench.sh BUILD_DIR [rtcrm-bench options...]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [options]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$root"/lua/examples/*.lua "$dir"/
cp "$root"/lua/examples/experiments/frustrated_fighter_ab.lua "$dir"/frustrated_fighter.lua
echo "plain: rtcrm-bench --scripts lua/examples $*"
"$build"/benchmarks/rtcrm-bench --scripts "$root"/lua/examples "$@"
echo "experiment: rtcrm-bench --scripts <lua/examples with lua/examples/experiments/frustrated_fighter_ab.lua> $*"
"$build"/benchmarks/rtcrm-bench --scripts "$dir" "$@"
