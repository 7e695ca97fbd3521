#!/usr/bin/env bash
# README.md's reference table of the settings is what rtcrm-topology --print-config-reference
# prints (the table is made from the library's settings table, as the flags and the JSON
# loader are). After changing a setting, paste the command's output between the markers.
source "$(dirname "$0")/lib.sh"
bin=$1

"$bin" --print-config-reference > "$work/generated.md" || fail "--print-config-reference exited with $?"
[ "$(head -n 1 "$work/generated.md")" = '| path | flag | type | default | meaning |' ] || fail "no table: $(head -n 3 "$work/generated.md")"
sed -n '/^<!-- The table below is what `rtcrm-topology --print-config-reference` prints/,/^<!-- end of the generated table -->/p' \
    README.md | sed '1d;$d' > "$work/readme.md"
[ -s "$work/readme.md" ] || fail "README.md has no generated table between its markers"
diff -u "$work/readme.md" "$work/generated.md" ||
    fail "README.md's table of settings differs from rtcrm-topology --print-config-reference (above: - README, + generated)"
echo "PASS: README.md's table of settings is the generated one"
