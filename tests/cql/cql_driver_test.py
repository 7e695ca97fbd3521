#!/usr/bin/python3
"""The DataStax Python driver (Debian's python3-cassandra) against rtcrm-cql-peer.

Usage: /usr/bin/python3 cql_driver_test.py <path to rtcrm-cql-peer>

An outside client proves the peer speaks CQL v4 faithfully: the driver connects (with and
without a password, negotiating the version down from its newest), discovers a three-node
ring from system.local / system.peers, creates a keyspace and three tables, writes profiles
with simple and prepared statements and a BATCH, reads event history in clustering order,
pages through a table, and sees the errors Cassandra would give. Exits 1 on any mismatch.
"""
import datetime
import logging
import subprocess
import sys
import time
import uuid

from cassandra import AlreadyExists, InvalidRequest, ProtocolVersion
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.murmur3 import murmur3
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, BatchType, SimpleStatement

failures = []


def check(what, got, want):
    if got != want:
        failures.append(what)
        print(f"FAIL {what}: got {got!r}, want {want!r}", flush=True)
    else:
        print(f"ok   {what}", flush=True)


def expect_error(what, exc_type, fn):
    try:
        fn()
    except exc_type as e:
        print(f"ok   {what} ({type(e).__name__}: {str(e)[:100]})", flush=True)
        return e
    except Exception as e:  # noqa: BLE001 - any other failure is a mismatch
        failures.append(what)
        print(f"FAIL {what}: raised {type(e).__name__}: {e}", flush=True)
        return
    failures.append(what)
    print(f"FAIL {what}: no error", flush=True)


class Peer:
    """rtcrm-cql-peer as a child process; stdin is a pipe so the peer ends with us."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("port="):
            raise RuntimeError(f"rtcrm-cql-peer did not print its port: {line!r}")
        self.port = int(line.split("=", 1)[1])

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            failures.append("peer stops when stdin closes")


def cluster(port, **kwargs):
    kwargs.setdefault("protocol_version", 4)
    return Cluster(["127.0.0.1"], port=port, schema_metadata_enabled=False, connect_timeout=5,
                   control_connection_timeout=5, **kwargs)


SCHEMA = [
    "CREATE KEYSPACE IF NOT EXISTS crm WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    " AND durable_writes = true",
    "CREATE TABLE crm.profiles (player_id text PRIMARY KEY, segment text, score bigint, level int,"
    " vip boolean, ratio double, tags set<text>, attrs map<text, text>, history list<text>, avatar blob,"
    " last_ip inet, updated timestamp, session uuid)",
    "CREATE TABLE crm.events (player_id text, ts timeuuid, kind text, payload blob,"
    " PRIMARY KEY (player_id, ts)) WITH CLUSTERING ORDER BY (ts DESC) AND default_time_to_live = 2592000"
    " AND gc_grace_seconds = 3600 AND compaction = {'class': 'TimeWindowCompactionStrategy'}",
    "CREATE TABLE crm.segments (tenant text, segment text, player_id text, joined timestamp,"
    " PRIMARY KEY ((tenant, segment), player_id)) WITH default_time_to_live = 86400",
]


def schema_and_data(session, cl):
    for ddl in SCHEMA:
        session.execute(ddl)
    check("the driver sees the ring's three nodes", len(cl.metadata.all_hosts()), 3)
    check("the token map has every node's tokens", len(cl.metadata.token_map.ring), 3 * 8)
    expect_error("creating an existing table is AlreadyExists", AlreadyExists,
                 lambda: session.execute("CREATE TABLE crm.profiles (player_id text PRIMARY KEY)"))
    session.execute("CREATE TABLE IF NOT EXISTS crm.profiles (player_id text PRIMARY KEY)")
    session.set_keyspace("crm")

    # Simple statements: literals and positional values.
    session.execute("INSERT INTO profiles (player_id, segment, score, level, vip, ratio, tags, attrs, history,"
                    " avatar, last_ip, updated, session) VALUES ('p1', 'whale', 9000000000, 42, true, 0.5,"
                    " {'b', 'a'}, {'lang': 'de'}, ['x', 'y'], 0xcafe, '10.0.0.1', 1700000000000,"
                    " 123e4567-e89b-12d3-a456-426614174000)")
    session.execute("INSERT INTO profiles (player_id, segment, score) VALUES (%s, %s, %s)", ("p2", "minnow", 7))
    row = session.execute("SELECT * FROM profiles WHERE player_id = 'p1'").one()
    check("a literal INSERT reads back (text, bigint, int, boolean, double)",
          (row.segment, row.score, row.level, row.vip, row.ratio), ("whale", 9000000000, 42, True, 0.5))
    check("collections read back (set sorted, map, list)",
          (sorted(row.tags), dict(row.attrs), list(row.history)), (["a", "b"], {"lang": "de"}, ["x", "y"]))
    check("blob, inet, timestamp, uuid read back",
          (row.avatar, row.last_ip, row.updated, row.session),
          (b"\xca\xfe", "10.0.0.1", datetime.datetime(2023, 11, 14, 22, 13, 20),
           uuid.UUID("123e4567-e89b-12d3-a456-426614174000")))

    # Prepared statements: bound values, routing key metadata, the result metadata.
    insert = session.prepare("INSERT INTO profiles (player_id, segment, score, tags) VALUES (?, ?, ?, ?)")
    check("PREPARE reports the partition key's bind index", insert.routing_key_indexes, [0])
    session.execute(insert, ("p3", "dolphin", 300, {"new"}))
    select = session.prepare("SELECT segment, score FROM profiles WHERE player_id = ?")
    check("a prepared SELECT reads a prepared INSERT", tuple(session.execute(select, ("p3",)).one()),
          ("dolphin", 300))
    update = session.prepare("UPDATE profiles USING TTL 3600 SET segment = ? WHERE player_id = ?")
    session.execute(update, ("orca", "p3"))
    check("a prepared UPDATE applies", session.execute(select, ("p3",)).one().segment, "orca")

    # A logged BATCH mixing prepared and simple statements, and an unlogged one.
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    batch.add(insert, ("p4", "shark", 4, None))
    batch.add(SimpleStatement("INSERT INTO profiles (player_id, segment) VALUES (%s, %s)"), ("p5", "shark"))
    batch.add(SimpleStatement("DELETE FROM profiles WHERE player_id = 'p2'"))
    session.execute(batch)
    unlogged = BatchStatement(batch_type=BatchType.UNLOGGED)
    unlogged.add(update, ("tuna", "p4"))
    session.execute(unlogged)
    check("a BATCH applies every statement", sorted(r.player_id for r in session.execute(
        "SELECT player_id FROM profiles")), ["p1", "p3", "p4", "p5"])
    check("an UNLOGGED BATCH applies", session.execute(select, ("p4",)).one().segment, "tuna")
    check("count(*) counts the rows", session.execute("SELECT count(*) FROM profiles").one()[0], 4)

    # token() ranges: the peer's Murmur3 tokens agree with the driver's.
    token = murmur3(b"p4")
    by_token = session.prepare("SELECT player_id FROM profiles WHERE token(player_id) > ? AND token(player_id) <= ?")
    check("token(pk) markers are named 'partition key token'", [c.name for c in by_token.column_metadata],
          ["partition key token", "partition key token"])
    check("a token range finds the row whose key hashes into it",
          [r.player_id for r in session.execute(by_token, (token - 1, token))], ["p4"])


def events(session):
    ins = session.prepare("INSERT INTO events (player_id, ts, kind, payload) VALUES (?, ?, ?, ?)")
    base = 1_700_000_000
    stamps = [uuid.uuid1(node=1, clock_seq=i) for i in range(10)]
    # uuid1 takes the current time; rebuild them with increasing, known times instead.
    stamps = [uuid.UUID(fields=(((base + i) * 10_000_000 + 0x01B21DD213814000) & 0xFFFFFFFF,
                                (((base + i) * 10_000_000 + 0x01B21DD213814000) >> 32) & 0xFFFF,
                                ((((base + i) * 10_000_000 + 0x01B21DD213814000) >> 48) & 0x0FFF) | 0x1000,
                                0x80, i, 0x123456789ABC)) for i in range(10)]
    for i in [3, 7, 0, 9, 5, 1, 8, 2, 6, 4]:
        session.execute(ins, ("p1", stamps[i], f"k{i}", bytes([i])))
    session.execute(ins, ("p2", stamps[0], "other", b""))
    rows = list(session.execute("SELECT ts, kind FROM events WHERE player_id = 'p1'"))
    check("a partition reads in its clustering order (ts DESC)", [r.kind for r in rows],
          [f"k{i}" for i in reversed(range(10))])
    rows = list(session.execute("SELECT kind FROM events WHERE player_id = 'p1' ORDER BY ts ASC LIMIT 3"))
    check("ORDER BY ts ASC with LIMIT reverses the clustering order", [r.kind for r in rows], ["k0", "k1", "k2"])
    since = session.prepare("SELECT kind FROM events WHERE player_id = ? AND ts > ? LIMIT ?")
    check("a clustering range with a LIMIT marker", [r.kind for r in session.execute(since, ("p1", stamps[6], 2))],
          ["k9", "k8"])
    check("the TTL'd table keeps fresh rows", session.execute(
        "SELECT count(*) FROM events WHERE player_id = 'p2'").one()[0], 1)
    session.execute("INSERT INTO segments (tenant, segment, player_id, joined) VALUES ('t1', 'whale', 'p1', 0)"
                    " USING TTL 1")
    session.execute("INSERT INTO segments (tenant, segment, player_id) VALUES ('t1', 'whale', 'p9')")
    time.sleep(2.2)  # the server's clock decides expiry; 1 s TTL, so 2.2 s is past it with margin
    check("a row whose TTL passed is gone, others stay",
          [r.player_id for r in session.execute(
              "SELECT player_id FROM segments WHERE tenant = 't1' AND segment = 'whale'")], ["p9"])


def paging(session):
    ins = session.prepare("INSERT INTO profiles (player_id, score) VALUES (?, ?)")
    for i in range(30):
        session.execute(ins, (f"page{i:02}", i))
    statement = SimpleStatement("SELECT player_id, score FROM profiles", fetch_size=7)
    result = session.execute(statement)
    check("the first page holds fetch_size rows and says more follow",
          (len(result.current_rows), result.has_more_pages), (7, True))
    ids = [r.player_id for r in session.execute(statement)]
    check("paging returns every row exactly once", (len(ids), len(set(ids))), (34, 34))
    prepared = session.prepare("SELECT player_id FROM profiles")
    prepared.fetch_size = 5
    check("paging a prepared statement", len(list(session.execute(prepared))), 34)


def errors(session):
    expect_error("an unknown table is InvalidRequest", InvalidRequest,
                 lambda: session.execute("SELECT * FROM nowhere"))
    expect_error("bad grammar is a SyntaxException", SyntaxException,
                 lambda: session.execute("SELEKT * FROM profiles"))
    expect_error("an unsupported feature is InvalidRequest", InvalidRequest,
                 lambda: session.execute("SELECT * FROM profiles WHERE player_id IN ('a', 'b')"))
    expect_error("a missing partition key is InvalidRequest", InvalidRequest,
                 lambda: session.execute("INSERT INTO profiles (score) VALUES (1)"))


def rtcrm_store_schema(session):
    """rtcrm's own schema and statements (src/cassandra/cassandra_store.cpp), run by the driver."""
    session.execute("CREATE KEYSPACE IF NOT EXISTS crm_store WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE IF NOT EXISTS crm_store.profile (player_id text PRIMARY KEY, data blob, "
                    "updated_at timestamp) WITH default_time_to_live = 0")
    session.execute("CREATE TABLE IF NOT EXISTS crm_store.event (player_id text, day int, timeid timeuuid, "
                    "type text, event text, PRIMARY KEY ((player_id, day), timeid)) "
                    "WITH default_time_to_live = 2592000")
    session.execute("CREATE TABLE IF NOT EXISTS crm_store.source_position (instance text, source text, "
                    "partition int, offset bigint, PRIMARY KEY (instance, source, partition))")
    ins_profile = session.prepare("INSERT INTO crm_store.profile (player_id, data, updated_at) VALUES (?, ?, ?)")
    check("profile's partition key is player_id", ins_profile.routing_key_indexes, [0])
    when = datetime.datetime(2025, 11, 22, 8, 0, tzinfo=datetime.timezone.utc)
    for i in range(50):
        session.execute(ins_profile, (str(i), bytes([1, i]), when))
    row = session.execute(session.prepare("SELECT player_id, data FROM crm_store.profile WHERE player_id = ?"),
                          ("7",)).one()
    check("a profile reads back", (row.player_id, row.data), ("7", bytes([1, 7])))

    ins_event = session.prepare("INSERT INTO crm_store.event (player_id, day, timeid, type, event) "
                                "VALUES (?, ?, ?, ?, ?)")
    check("event's partition key is (player_id, day)", ins_event.routing_key_indexes, [0, 1])
    day = 20414
    stamps = [uuid.uuid1(clock_seq=k) for k in range(5)]
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for k, timeid in reversed(list(enumerate(stamps))):  # sent newest first; stored by time
        batch.add(ins_event, ("42", day, timeid, "fight", f'{{"type":"fight","id":"e{k}"}}'))
    session.execute(batch)
    history = list(session.execute("SELECT timeid, type FROM crm_store.event WHERE player_id = '42' AND day = %s",
                                   (day,)))
    check("an unlogged batch of one partition is stored in timeuuid order", [r.timeid for r in history], stamps)

    ins_pos = session.prepare("INSERT INTO crm_store.source_position (instance, source, partition, offset) "
                              "VALUES (?, ?, ?, ?)")
    session.execute(ins_pos, ("a", "kafka:raw", 0, 10))
    session.execute(ins_pos, ("a", "kafka:raw", 0, 12))
    session.execute(ins_pos, ("b", "kafka:raw", 0, 99))
    positions = [(r.source, r.partition, r.offset) for r in session.execute(
        "SELECT source, partition, offset FROM crm_store.source_position WHERE instance = 'a'")]
    check("positions are upserted per instance", positions, [("kafka:raw", 0, 12)])

    scan = session.prepare("SELECT player_id, data FROM crm_store.profile "
                           "WHERE token(player_id) > ? AND token(player_id) <= ?")
    half = [r.player_id for r in session.execute(scan, (-2**63, 0))] + \
           [r.player_id for r in session.execute(scan, (0, 2**63 - 1))]
    check("two token ranges cover the profile table once", sorted(half, key=int), [str(i) for i in range(50)])


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    # The driver logs the expected refusals (wrong password, version steps) loudly.
    logging.basicConfig(level=logging.CRITICAL)
    binary = sys.argv[1]

    peer = Peer(binary, "--nodes", "3")
    try:
        cl = cluster(peer.port)
        session = cl.connect()
        local = session.execute("SELECT * FROM system.local WHERE key='local'").one()
        check("system.local names the cluster and partitioner", (local.cluster_name, local.partitioner),
              ("rtcrm-test", "org.apache.cassandra.dht.Murmur3Partitioner"))
        schema_and_data(session, cl)
        rtcrm_store_schema(session)
        events(session)
        paging(session)
        errors(session)
        cl.shutdown()

        negotiated = Cluster(["127.0.0.1"], port=peer.port, schema_metadata_enabled=False, connect_timeout=5)
        negotiated.connect().execute("SELECT key FROM system.local")
        check("left to negotiate, the driver steps down to v4", negotiated.protocol_version, ProtocolVersion.V4)
        negotiated.shutdown()
    finally:
        peer.stop()

    secured = Peer(binary, "--username", "crm", "--password", "s3cret")
    try:
        good = cluster(secured.port, auth_provider=PlainTextAuthProvider("crm", "s3cret"))
        check("the right password logs in", good.connect().execute("SELECT key FROM system.local").one().key,
              "local")
        good.shutdown()
        bad = cluster(secured.port, auth_provider=PlainTextAuthProvider("crm", "wrong"))
        refusal = expect_error("a wrong password is refused", NoHostAvailable, bad.connect)
        check("the refusal is the server's bad credentials error", "Bad credentials" in str(refusal), True)
        bad.shutdown()
    finally:
        secured.stop()

    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
