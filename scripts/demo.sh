#!/usr/bin/env bash
# Installs the build dependencies (Debian 12), builds rtcrm-topology and runs the demo:
# a synthetic game where Bob, a non-paying level-12 player, loses three fights in a row
# and gets a tank offer. Extra arguments go to rtcrm-topology.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${RTCRM_SKIP_SETUP:-0}" != 1 ]; then
    ./scripts/setup-debian.sh
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --target rtcrm_topology
./build/apps/rtcrm-topology --source generator --scenario bob --events 200000 --players 20000 \
    --schemas examples/schemas --scripts lua/examples --output build/triggers.ndjson --dead-letter build/dead-letter.ndjson "$@"
echo
echo "Bob's offer:"
grep '"player_id":4242,' build/triggers.ndjson
echo "$(wc -l < build/triggers.ndjson) triggers in build/triggers.ndjson," \
     "$(wc -l < build/dead-letter.ndjson) dead letters in build/dead-letter.ndjson"
