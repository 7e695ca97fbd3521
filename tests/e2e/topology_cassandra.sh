#!/usr/bin/env bash
# rtcrm-topology --store cassandra against the CQL test peer (a CQL v4 server with an
# in-memory table engine): the sample runs with profiles and history in "Cassandra", a
# second run resumes from the positions stored there and sends nothing again, and an
# outside client (the DataStax Python driver) reads what rtcrm wrote.
#   topology_cassandra.sh RTCRM_TOPOLOGY RTCRM_CQL_PEER RTCRM_PROFILES
source "$(dirname "$0")/lib.sh"
bin=$1
peer_bin=$2
profiles_bin=$3
python=/usr/bin/python3  # Debian's python3-cassandra is seen by this one only

# The peer prints "port=N" first, then serves until its stdin closes.
coproc PEER { "$peer_bin" --address 127.0.0.1 --port 0; }
read -r -t 20 line <&"${PEER[0]}" || fail "the CQL test peer did not start"
port=${line#port=}
[ "$port" -gt 0 ] 2>/dev/null || fail "the CQL test peer printed '$line'"

run=(--config examples/configs/cassandra.json --cassandra-hosts "127.0.0.1:$port" --keyspace crm_e2e
     --dead-letter "$work/dead.ndjson")
"$bin" "${run[@]}" --output "$work/run1.ndjson" 2> "$work/run1.err" || { cat "$work/run1.err"; fail "first run exited with $?"; }
grep -q "store cassandra" "$work/run1.err" || { cat "$work/run1.err"; fail "not the Cassandra store"; }
events=$(wc -l < examples/data/sample.ndjson)
[ "$(summary_field processed "$work/run1.err")" -eq "$events" ] || { cat "$work/run1.err"; fail "not every sample event was processed"; }
bob=$(grep -c '"player_id":4242,' "$work/run1.ndjson" || true)
[ "$bob" -eq 1 ] || fail "Bob got $bob triggers"
[ ! -s "$work/dead.ndjson" ] || fail "dead letters: $(head -n 3 "$work/dead.ndjson")"

# The second run resumes after the first: nothing read, nothing sent again.
"$bin" "${run[@]}" --output "$work/run2.ndjson" 2> "$work/run2.err" || { cat "$work/run2.err"; fail "second run exited with $?"; }
[ "$(summary_field in "$work/run2.err")" -eq 0 ] || { cat "$work/run2.err"; fail "the second run read events again"; }
[ ! -s "$work/run2.ndjson" ] || fail "the second run sent triggers again: $(cat "$work/run2.ndjson")"

# An outside client sees every player's profile, Bob's event history and the positions.
players=$(grep -o '"player_id":[0-9]*' examples/data/sample.ndjson | sort -u | wc -l)
"$python" - "$port" "$players" <<'PY' || fail "the Python driver disagrees with what rtcrm wrote"
import sys
from cassandra.cluster import Cluster
port, players = int(sys.argv[1]), int(sys.argv[2])
cluster = Cluster(["127.0.0.1"], port=port, protocol_version=4, schema_metadata_enabled=False)
session = cluster.connect("crm_e2e")
stored = session.execute("SELECT count(*) FROM profile").one()[0]
assert stored == players, f"{stored} profiles stored, {players} players in the sample"
bob = [r for r in session.execute("SELECT player_id, data FROM profile WHERE player_id = '4242'")]
assert len(bob) == 1 and len(bob[0].data) > 0, "Bob's profile is missing"
positions = list(session.execute("SELECT source, partition, offset FROM source_position WHERE instance = 'rtcrm'"))
assert positions and all(p.offset >= 0 for p in positions), f"positions: {positions}"
print(f"ok: {stored} profiles, positions {[(p.source, p.partition, p.offset) for p in positions]}")
cluster.shutdown()
PY
# rtcrm-profiles scans the profile table by token ranges, with a segment too.
counted=$("$profiles_bin" --store cassandra --cassandra-hosts "127.0.0.1:$port" --keyspace crm_e2e --threads 2 --count) ||
    fail "rtcrm-profiles --store cassandra exited with $?"
[ "$counted" -eq "$players" ] || fail "rtcrm-profiles counted $counted profiles, not $players"
bob_dump=$("$profiles_bin" --store cassandra --cassandra-hosts "127.0.0.1:$port" --keyspace crm_e2e \
    --where 'tostring(p:player()) == "4242"' --dump) || fail "rtcrm-profiles --where exited with $?"
[ "$(printf '%s\n' "$bob_dump" | grep -c .)" -eq 1 ] || fail "rtcrm-profiles --where found: $bob_dump"

exec {PEER[1]}>&-
wait "$PEER_PID" 2>/dev/null || true
echo "ok"
