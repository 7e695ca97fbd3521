#!/usr/bin/env python3
"""End-to-end test of rtcrm-game-server-uv: game clients over TCP, offers back.

1. The demo: Bob logs in, loses three fights, and gets the tanks offer on his connection.
2. The stress run: several clients, each with its players' sessions, send fight results
   (RTCRM_GAME_EVENTS in all, default 1M); the test campaign offers at every third loss in
   a row, so the test knows every offer each player must get, and in which order. It
   checks them all, then stops the server with SIGTERM and reads its summary.

usage: game_server_uv.py SERVER_BINARY
"""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def start_server(binary, scripts, err_path, extra=()):
    err = open(err_path, "w")
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--scripts", scripts, "--shards", "2", *extra],
                            stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 60
    while time.time() < deadline:
        m = re.search(r"listening on [0-9.]+:(\d+)", open(err_path).read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            fail(f"server exited early: {open(err_path).read()}")
        time.sleep(0.05)
    proc.kill()
    fail("server did not start listening")


def stop_server(proc, err_path):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("server did not stop within 300 s of SIGTERM")
    text = open(err_path).read()
    print(text, file=sys.stderr)
    if rc != 0:
        fail(f"server exited with {rc}")
    return text


class Client:
    """One connection; a reader thread collects OFFER lines by player."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.offers = {}  # player -> [event_id, ...] in arrival order
        self.count = 0
        self.errors = []
        self.cv = threading.Condition()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            with self.cv:
                for line in lines:
                    if line.startswith(b"OFFER "):
                        offer = json.loads(line[6:])
                        self.offers.setdefault(offer["player_id"], []).append(offer["event_id"])
                        self.count += 1
                    elif line.startswith(b"ERROR"):
                        self.errors.append(line.decode())
                self.cv.notify_all()

    def send(self, lines):
        self.sock.sendall("".join(lines).encode())

    def wait_for(self, n, timeout):
        with self.cv:
            return self.cv.wait_for(lambda: self.count >= n, timeout)

    def close(self):
        self.sock.close()


def demo(binary, work, extra=()):
    err = os.path.join(work, "demo.err")
    proc, port = start_server(binary, "lua/examples", err, extra)
    bob = Client(port)
    bob.send(["LOGIN 4242\n", "FIGHT 4242 loss\n", "FIGHT 4242 loss\n", "FIGHT 4242 loss\n", "NONSENSE 4242\n"])
    if not bob.wait_for(1, 60):
        stop_server(proc, err)
        fail("Bob got no offer")
    time.sleep(0.2)
    bob.close()
    text = stop_server(proc, err)
    if bob.offers != {4242: ["4242:2"]}:
        fail(f"Bob's offers: {bob.offers}")
    if not bob.errors or "unknown command" not in bob.errors[0]:
        fail(f"a bad line got no error: {bob.errors}")
    if "3 events submitted" not in text:
        fail("the summary does not count Bob's three events")
    print(f"PASS: Bob got the tanks offer on his connection {' '.join(extra)}")


def scheduling(binary, work):
    # The loop thread and the shards under SCHED_BATCH (no privilege needed): the same game.
    demo(binary, work, ["--policy", "batch"])
    bad = subprocess.run([binary, "--policy", "realtime"], capture_output=True, text=True, timeout=60)
    if bad.returncode != 2 or 'unknown policy "realtime"' not in bad.stderr:
        fail(f"a bad --policy: exit {bad.returncode}, {bad.stderr!r}")
    print("PASS: --policy batch runs the game; a bad policy is refused")


def stress(binary, work, total_events):
    clients_n, players_per_client = 8, 125
    fights = max(1, total_events // (clients_n * players_per_client))
    rng = random.Random(7)
    err = os.path.join(work, "stress.err")
    proc, port = start_server(binary, "tests/e2e/game_server", err)
    clients, expected, plans = [], [], []
    for k in range(clients_n):
        players = [k * 1000 + i + 1 for i in range(players_per_client)]
        want = {p: [] for p in players}
        streak = {p: 0 for p in players}
        lines = [f"LOGIN {p}\n" for p in players]
        for n in range(fights):
            for p in players:
                loss = rng.random() < 0.6
                lines.append(f"FIGHT {p} {'loss' if loss else 'win'}\n")
                streak[p] = streak[p] + 1 if loss else 0
                if loss and streak[p] % 3 == 0:
                    want[p].append(f"{p}:{n}")
        clients.append(Client(port))
        expected.append(want)
        plans.append(lines)
    start = time.time()
    senders = [threading.Thread(target=c.send, args=(plan,)) for c, plan in zip(clients, plans)]
    for s in senders:
        s.start()
    for s in senders:
        s.join()
    for c, want in zip(clients, expected):
        n = sum(len(v) for v in want.values())
        if not c.wait_for(n, 600):
            stop_server(proc, err)
            fail(f"a client got {c.count} of its {n} offers")
    took = time.time() - start
    time.sleep(0.2)  # any extra (wrong) offer would arrive now
    for c in clients:
        c.close()
    text = stop_server(proc, err)
    total = clients_n * players_per_client * fights
    offers = 0
    for c, want in zip(clients, expected):
        if c.errors:
            fail(f"errors from the server: {c.errors[:3]}")
        for p, ids in want.items():
            got = c.offers.get(p, [])
            if got != ids:
                fail(f"player {p}: expected offers {ids[:5]}..., got {got[:5]}... ({len(ids)} vs {len(got)})")
            offers += len(ids)
    if f"{total} events submitted" not in text:
        fail(f"the server did not submit all {total} events")
    if "nacked=0" not in text:
        fail("events were nacked")
    print(f"PASS: {total} events from {clients_n} clients, {offers} offers, each on its player's connection "
          f"and in order ({took:.1f} s)")


def main():
    binary = sys.argv[1]
    total = int(os.environ.get("RTCRM_GAME_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as work:
        demo(binary, work)
        scheduling(binary, work)
        stress(binary, work, total)


if __name__ == "__main__":
    main()
