# Helpers for the end-to-end scripts. Each script gets the binary as $1 and runs from the
# repository root.
set -euo pipefail
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# summary_field NAME FILE: the value of NAME=value in rtcrm-topology's summary line.
summary_field() {
    grep -o "$1=[0-9]*" "$2" | head -n 1 | cut -d= -f2
}

# kill_mid_run MIN SPREAD LOG COMMAND...: runs COMMAND in the background (its standard
# error appended to LOG), sends it SIGKILL after a random MIN to MIN+SPREAD-1 hundredths
# of a second (MIN+SPREAD at most 100), and adds 1 to `interrupted` if it was still running
# then. COMMAND runs as a simple command, so the signal reaches the program itself.
interrupted=0
kill_mid_run() {
    local min=$1 spread=$2 log=$3
    shift 3
    "$@" 2>> "$log" &
    local pid=$!
    sleep "0.$(printf %02d $(( RANDOM % spread + min )))"
    if kill -9 "$pid" 2> /dev/null; then
        interrupted=$((interrupted + 1))
    fi
    wait "$pid" 2> /dev/null || true
}
