#!/usr/bin/env bash
# Events posted with curl come out as triggers POSTed to a webhook (Python's http.server
# as the outside receiver, which fails its first request to force a retry).
source "$(dirname "$0")/lib.sh"
bin=$1
/usr/bin/python3 - "$work/received.ndjson" > "$work/receiver.out" 2>&1 <<'PY' &
import http.server, sys
out = open(sys.argv[1], "ab", buffering=0)
state = {"calls": 0}
class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        state["calls"] += 1
        status = 503 if state["calls"] == 1 else 200
        if status == 200:
            out.write(body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
receiver=$!
trap 'kill "$receiver" 2> /dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/receiver.out" ] && break; sleep 0.1; done
hook_port=$(head -n 1 "$work/receiver.out")

"$bin" --source http --listen 127.0.0.1:0 --scripts lua/examples --sink webhook \
    --webhook-url "http://127.0.0.1:$hook_port/triggers" --dead-letter "$work/dead.ndjson" 2> "$work/err.txt" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/err.txt" 2> /dev/null && break; sleep 0.1; done
events=$(sed -n 's/.*listening on \(.*\)$/http:\/\/\1/p' "$work/err.txt")
for p in $(seq 20); do
    for s in 0 1 2; do
        printf '{"id":"e-%s-%s","player_id":%s,"type":"fight","ts":%s,"data":{"result":"loss"}}\n' "$p" "$s" "$p" $((1763800000000 + s))
    done
done > "$work/batch.ndjson"
[ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$work/batch.ndjson" "$events/events")" = 202 ] || fail "POST /events"
for _ in $(seq 100); do
    [ "$(wc -l < "$work/received.ndjson" 2> /dev/null || echo 0)" -ge 20 ] && break
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || { cat "$work/err.txt"; fail "exit code $?"; }
cat "$work/err.txt"
[ "$(wc -l < "$work/received.ndjson")" -eq 20 ] || fail "the webhook got $(wc -l < "$work/received.ndjson") triggers, not 20"
[ "$(grep -c '"campaign_id":3' "$work/received.ndjson")" -eq 20 ] || fail "unexpected triggers"
grep -q 'retries' "$work/err.txt" && grep -q ' 1 retries' "$work/err.txt" || fail "the refused first request was not retried"
[ ! -s "$work/dead.ndjson" ] || fail "dead letters: $(cat "$work/dead.ndjson")"
echo "PASS: curl in, webhook out"
