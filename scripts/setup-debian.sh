#!/usr/bin/env bash
# Installs everything rtcrm needs to build and test on Debian 12 (bookworm): the
# toolchain, the core's dependencies, and those of the adapters (Lua with the date
# library, LMDB, Kafka, libuv, zstd).
# Idempotent: re-running it refreshes the package lists and installs nothing new.
# Run as root, or as a user allowed to use sudo without a password.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config
    libboost1.81-dev libboost-program-options1.81-dev
    rapidjson-dev libfmt-dev
    liblua5.4-dev liblmdb-dev librdkafka-dev libuv1-dev
    libzstd-dev zstd  # the event archive (rtcrm::archive), and the zstd tool its tests read it back with
    libhowardhinnant-date-dev tzdata  # quiet hours' time zones: the date library over the system tz database
    libgtest-dev libgmock-dev libbenchmark-dev
    clang libclang-rt-14-dev  # the fuzz targets (tests/fuzz): clang 14 and its libFuzzer, ASan and UBSan runtimes
    curl ca-certificates
    kcat  # the outside Kafka client of the integration tests
    python3  # drives the game server's end-to-end test (tests/e2e/game_server_uv.py)
    python3-prometheus-client  # parses /metrics in the HTTP tests (for /usr/bin/python3)
    python3-cassandra  # the DataStax Python driver: CQL frames and an outside client of the CQL test peer
)

# Runs a command as root, through sudo when we are not root. sudo -n never prompts
# (CI has no stdin); `env` passes DEBIAN_FRONTEND through sudo's environment reset.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        env DEBIAN_FRONTEND=noninteractive "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    else
        echo "setup-debian.sh: run as root (sudo is not available)" >&2
        return 1
    fi
}

as_root apt-get update
as_root apt-get install -y --no-install-recommends "${packages[@]}"
