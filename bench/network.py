#!/usr/bin/env python3
"""What brig's network proxy costs: throughput and added latency per connection.

One run measures, with the same client code:

  direct   the client outside brig, straight to a server on the host's loopback;
  proxied  the client inside `brig run` with `network = "allowlist"`, through brig's proxy
           (an HTTP CONNECT tunnel to the same server, named bench.test in [network.hosts]).

Throughput: the server sends SIZE bytes per connection (default 512 MiB), the client reads
them with 1 MiB reads; best and median of ROUNDS rounds.
Latency: CONNS connections (default 300), each: connect (plus, proxied, the CONNECT
exchange), one byte each way, close; the median and p90 of each, and the difference of the
medians (what the proxy adds to one connection).

    cargo build --release -p brig
    python3 bench/network.py [--brig target/release/brig] [--size-mib 512] [--rounds 5] [--conns 300]
"""

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

CLIENT = r'''
import json, os, socket, sys, time
mode, port, size, rounds, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def open_conn():
    if mode == "direct":
        return socket.create_connection(("127.0.0.1", port))
    hp = os.environ["https_proxy"].split("//", 1)[1]
    h, p = hp.rsplit(":", 1)
    s = socket.create_connection((h, int(p)))
    s.sendall(("CONNECT bench.test:%d HTTP/1.1\r\nHost: bench.test:%d\r\n\r\n" % (port, port)).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        d = s.recv(4096)
        if not d:
            raise SystemExit("proxy closed: %r" % got)
        got += d
    if b" 200 " not in got.split(b"\r\n")[0]:
        raise SystemExit("proxy refused: %r" % got)
    return s

out = {"throughput": [], "latency": []}
buf = bytearray(1 << 20)
view = memoryview(buf)
for _ in range(rounds):
    s = open_conn()
    s.sendall(b"T")
    left = size
    t0 = time.perf_counter()
    while left > 0:
        n = s.recv_into(view, min(len(buf), left))
        if n == 0:
            raise SystemExit("short read")
        left -= n
    out["throughput"].append(size / (time.perf_counter() - t0))
    s.close()
for _ in range(conns):
    t0 = time.perf_counter()
    s = open_conn()
    s.sendall(b"P")
    if s.recv(1) != b"P":
        raise SystemExit("bad echo")
    s.close()
    out["latency"].append(time.perf_counter() - t0)
print(json.dumps(out))
'''


def serve(listener, size):
    chunk = b"\0" * (1 << 20)

    def one(c):
        with c:
            op = c.recv(1)
            if op == b"T":
                left = size
                while left > 0:
                    n = min(len(chunk), left)
                    c.sendall(chunk[:n])
                    left -= n
            elif op == b"P":
                c.sendall(b"P")

    while True:
        try:
            c, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=one, args=(c,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brig", default="target/release/brig")
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=300)
    a = ap.parse_args()
    brig = os.path.abspath(a.brig)
    size = a.size_mib << 20

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    threading.Thread(target=serve, args=(listener, size), daemon=True).start()

    tmp = tempfile.mkdtemp(prefix="brig-net-bench-")
    try:
        home, ws = os.path.join(tmp, "home"), os.path.join(tmp, "ws")
        os.makedirs(os.path.join(home, ".config", "brig"))
        os.makedirs(ws)
        with open(os.path.join(home, ".config", "brig", "config.toml"), "w") as f:
            f.write('[network]\nmode = "allowlist"\nallow = ["bench.test"]\n'
                    '[network.hosts]\n"bench.test" = "127.0.0.1"\n')
        client = os.path.join(ws, "client.py")  # the sandbox has a private /tmp
        with open(client, "w") as f:
            f.write(CLIENT)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "XDG_STATE_HOME": os.path.join(tmp, "state"),
            "LANG": "C.UTF-8",
        }
        py = shutil.which("python3", path=env["PATH"]) or "python3"
        args = [str(port), str(size), str(a.rounds), str(a.conns)]
        results = {}
        for mode in ("direct", "proxied"):
            cmd = [py, client, mode] + args
            if mode == "proxied":
                cmd = [brig, "run", "--"] + cmd
            # CPU time of the run and everything it reaped: for the proxied run, brig (the
            # proxy's threads) plus the sandboxed client.
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                sys.exit("%s run failed (%d):\n%s%s" % (mode, r.returncode, r.stdout, r.stderr))
            results[mode] = json.loads(r.stdout.strip().splitlines()[-1])
            results[mode]["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        d, p = results["direct"], results["proxied"]
        gib = lambda v: v / (1 << 30)
        ms = lambda v: v * 1000
        print("brig network proxy, one run: %d MiB x %d rounds, %d connections" % (a.size_mib, a.rounds, a.conns))
        print()
        print("| | direct | through brig's proxy | ratio / added |")
        print("|---|---:|---:|---:|")
        dt, pt = statistics.median(d["throughput"]), statistics.median(p["throughput"])
        print("| throughput, median | %.2f GiB/s | %.2f GiB/s | %.0f%% |" % (gib(dt), gib(pt), 100 * pt / dt))
        db, pb = max(d["throughput"]), max(p["throughput"])
        print("| throughput, best | %.2f GiB/s | %.2f GiB/s | %.0f%% |" % (gib(db), gib(pb), 100 * pb / db))
        dl, pl = statistics.median(d["latency"]), statistics.median(p["latency"])
        print("| connection, median | %.3f ms | %.3f ms | +%.3f ms |" % (ms(dl), ms(pl), ms(pl - dl)))
        q = lambda v: statistics.quantiles(v, n=10)[-1]
        moved = a.rounds * size / (1 << 30)
        print("| CPU of the client run (+ brig), per GiB moved | %.2f s | %.2f s | +%.2f s |" % (d["cpu"] / moved, p["cpu"] / moved, (p["cpu"] - d["cpu"]) / moved))
        print("| connection, p90 | %.3f ms | %.3f ms | +%.3f ms |" % (ms(q(d["latency"])), ms(q(p["latency"])), ms(q(p["latency"]) - q(d["latency"]))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
