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
