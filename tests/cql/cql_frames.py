#!/usr/bin/python3
"""Reference frames and values from Debian's DataStax Python driver (python3-cassandra),
for the CQL codec tests (tests/cql/cql_frames_driver.cpp runs it).

Run with /usr/bin/python3 (the python3 that sees Debian's packages). Reads one JSON
object per line on stdin and writes one line per input on stdout:

  {"op": "request", "msg": {...}}          -> the driver's whole frame, hex
  {"op": "response", "opcode": n, "flags": n, "body": hex[, "result_metadata": [...]]}
                                           -> the fields the driver decodes, as compact
                                              JSON with sorted keys ({"error": ...} if it
                                              cannot decode them)
  {"op": "murmur3", "keys": [hex, ...]}    -> the driver's tokens, JSON list
  {"op": "routing_key", "parts": [hex]}    -> the driver's (composite) routing key, hex
  {"op": "uuid", "hex": hex}               -> what uuid.UUID sees in 16 bytes, JSON

Byte strings travel as hex, null values as JSON null. The driver has decoders only for
responses (no send_body), so responses go one way: our bytes into its decoder.
"""

import datetime
import json
import sys
import uuid

from cassandra.cqltypes import BooleanType, BytesType, Int32Type, LongType, UTF8Type, UUIDType
from cassandra.metadata import Murmur3Token
from cassandra.protocol import (AuthResponseMessage, BatchMessage, ExecuteMessage, OptionsMessage,
                                PrepareMessage, ProtocolHandler, QueryMessage, RegisterMessage,
                                StartupMessage)
from cassandra.query import BatchType, SimpleStatement

PROTOCOL_VERSION = 4
STREAM = 0

CASSTYPES = {"int": Int32Type, "text": UTF8Type, "bigint": LongType, "blob": BytesType,
             "boolean": BooleanType, "uuid": UUIDType}


def unhex(v):
    return None if v is None else bytes.fromhex(v)


def request_message(m):
    kind = m["type"]
    if kind == "startup":
        # Sorted, like the std::map we encode from; the driver writes its dict in order.
        opts = dict(sorted(m["options"].items()))
        return StartupMessage(cqlversion=opts["CQL_VERSION"], options=opts)
    if kind == "options":
        return OptionsMessage()
    if kind == "auth_response":
        return AuthResponseMessage(unhex(m["token"]))
    if kind == "prepare":
        return PrepareMessage(m["query"])
    if kind == "register":
        return RegisterMessage(m["events"])
    if kind in ("query", "execute"):
        common = dict(consistency_level=m["consistency"],
                      serial_consistency_level=m.get("serial_consistency"),
                      fetch_size=m.get("page_size"),
                      paging_state=unhex(m.get("paging_state")),
                      timestamp=m.get("timestamp"))
        values = [unhex(v) for v in m.get("values", [])]
        if kind == "query":
            msg = QueryMessage(m["query"], **common)
            if values:
                msg.query_params = values
            return msg
        return ExecuteMessage(unhex(m["id"]), values, **common)
    if kind == "batch":
        batch_type = {0: BatchType.LOGGED, 1: BatchType.UNLOGGED, 2: BatchType.COUNTER}[m["batch_type"]]
        queries = [(s["prepared"], unhex(s["id"]) if s["prepared"] else s["query"],
                    [unhex(v) for v in s["values"]]) for s in m["statements"]]
        return BatchMessage(batch_type, queries, m["consistency"],
                            serial_consistency_level=m.get("serial_consistency"),
                            timestamp=m.get("timestamp"))
    raise ValueError("unknown request type " + kind)


def plain(v):
    """A JSON-able form of what the driver decoded."""
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if hasattr(v, "name") and hasattr(v, "argument_types"):  # UserFunction/AggregateDescriptor
        return {"name": v.name, "argument_types": list(v.argument_types)}
    return v


def type_name(t):
    return t.cql_parameterized_type()


def columns(meta):
    if meta is None:
        return None
    return [[c[0], c[1], c[2], type_name(c[3])] for c in meta]


def response_fields(msg):
    out = {"message_type": type(msg).__name__}
    name = msg.name
    if name == "ERROR":
        out.update(code=msg.code, message=msg.message, info=plain(msg.info))
    elif name == "AUTHENTICATE":
        out.update(authenticator=msg.authenticator)
    elif name == "SUPPORTED":
        out.update(cql_versions=msg.cql_versions, options=msg.options)
    elif name == "AUTH_CHALLENGE":
        out.update(challenge=plain(msg.challenge))
    elif name == "AUTH_SUCCESS":
        out.update(token=plain(msg.token))
    elif name == "EVENT":
        out.update(event_type=msg.event_type, event_args=plain(msg.event_args))
    elif name == "RESULT":
        out["kind"] = msg.kind
        if msg.kind == 2:
            out.update(columns=columns(msg.column_metadata), paging_state=plain(msg.paging_state),
                       rows=plain(list(msg.parsed_rows)))
        elif msg.kind == 3:
            out.update(keyspace=msg.new_keyspace)
        elif msg.kind == 4:
            out.update(query_id=plain(msg.query_id), pk_indexes=msg.pk_indexes,
                       bind=[[c.keyspace_name, c.table_name, c.name, type_name(c.type)] for c in msg.bind_metadata],
                       result_columns=columns(msg.column_metadata))
        elif msg.kind == 5:
            out.update(event=plain(msg.schema_change_event))
    if msg.trace_id is not None:
        out["trace_id"] = str(msg.trace_id)
    if msg.warnings is not None:
        out["warnings"] = msg.warnings
    if msg.custom_payload is not None:
        out["custom_payload"] = plain(msg.custom_payload)
    return out


def handle(case):
    op = case["op"]
    if op == "request":
        msg = request_message(case["msg"])
        return ProtocolHandler.encode_message(msg, case.get("stream", STREAM), PROTOCOL_VERSION, None, False).hex()
    if op == "response":
        meta = case.get("result_metadata")
        if meta is not None:
            meta = [(c[0], c[1], c[2], CASSTYPES[c[3]]) for c in meta]
        try:
            msg = ProtocolHandler.decode_message(PROTOCOL_VERSION, {}, STREAM, case["flags"], case["opcode"],
                                                 bytes.fromhex(case["body"]), None, meta)
        except Exception as e:  # the test expects a decodable frame; say why not
            return json.dumps({"error": "%s: %s" % (type(e).__name__, e)})
        return json.dumps(response_fields(msg), sort_keys=True, separators=(",", ":"))
    if op == "murmur3":
        return json.dumps([Murmur3Token.hash_fn(bytes.fromhex(k)) for k in case["keys"]])
    if op == "routing_key":
        stmt = SimpleStatement("SELECT 1")
        stmt.routing_key = [bytes.fromhex(p) for p in case["parts"]]
        return stmt.routing_key.hex()
    if op == "uuid":
        u = uuid.UUID(bytes=bytes.fromhex(case["hex"]))
        return json.dumps({"version": u.version, "variant": u.variant, "time": u.time,
                           "clock_seq": u.clock_seq, "node": u.node})
    raise ValueError("unknown op " + op)


def main():
    for line in sys.stdin:
        line = line.strip()
        if line:
            print(handle(json.loads(line)), flush=True)


if __name__ == "__main__":
    main()
