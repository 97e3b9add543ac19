#!/usr/bin/env python3
"""Held connections for bench/run: COUNT clients that send their headers slowly.

    slowclients.py --port PORT [--count 10000] [--interval 5]

Each client connects to 127.0.0.1:PORT, sends an ESP8266 request line and
then one more header fragment every INTERVAL seconds (spread so that the
clients do not all write in the same instant), never finishing the header
block: a slow device on a bad link, or slowloris. The server has to keep all
of them while it goes on answering everyone else.

Protocol with the caller, one line each on stdout:
    READY opened=N failed=N            all connects done (or given up)
and, after SIGTERM or SIGINT:
    HELD opened=N failed=N closed_by_server=N open=N

"closed_by_server" counts clients the server reset or closed while they were
held; "failed" counts connects that did not complete within 20 s.
Only 127.0.0.1. Needs an open-file limit above COUNT (bench/run raises it).
"""

import argparse
import errno
import resource
import selectors
import signal
import socket
import time

REQUEST_LINE = (b"GET /update/demo HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                b"User-Agent: ESP8266-http-Update\r\n")
# Fragments trickled afterwards; cycled, the header block is never finished.
FRAGMENTS = [b"x-ESP8266-", b"free-space", b": 20", b"93056", b"\r\nx-ESP8266-mode: ",
             b"sketch\r\n", b"x-Slow: ", b"1\r\n"]
CONNECT_BATCH = 512
CONNECT_DEADLINE_S = 20.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--interval", type=float, default=5.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 256), hard))

    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sel = selectors.DefaultSelector()
    held = {}  # fd -> [socket, next fragment index]
    failed = 0
    pending = {}  # fd -> socket, connect in progress
    to_open = args.count
    deadline = time.monotonic() + CONNECT_DEADLINE_S

    # Connect in batches so the server's accept queue is not flooded past its backlog.
    while (to_open or pending) and time.monotonic() < deadline:
        while to_open and len(pending) < CONNECT_BATCH:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", args.port))
            to_open -= 1
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            pending[s.fileno()] = s
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=0.5):
            s = pending.pop(key.fd)
            sel.unregister(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                s.close()
                failed += 1
                continue
            try:
                s.send(REQUEST_LINE)
            except OSError:
                s.close()
                failed += 1
                continue
            held[s.fileno()] = [s, 0]
    for s in pending.values():
        sel.unregister(s)
        s.close()
        failed += 1
    failed += to_open
    pending.clear()
    print(f"READY opened={len(held)} failed={failed}", flush=True)

    # Watch for the server closing on us; trickle a fragment to 1/20 of the
    # clients every INTERVAL/20 seconds.
    for fd, (s, _) in held.items():
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    order = list(held.keys())
    slices = 20
    slice_no = 0
    next_tick = time.monotonic()
    while not stop:
        now = time.monotonic()
        if now >= next_tick:
            for fd in order[slice_no::slices]:
                entry = held.get(fd)
                if not entry:
                    continue
                s, i = entry
                try:
                    s.send(FRAGMENTS[i % len(FRAGMENTS)])
                    entry[1] = i + 1
                except OSError:
                    sel.unregister(s)
                    s.close()
                    del held[fd]
                    closed += 1
            slice_no = (slice_no + 1) % slices
            next_tick = now + args.interval / slices
        for key, _ in sel.select(timeout=max(0.0, next_tick - time.monotonic())):
            entry = held.get(key.fd)
            if not entry:
                continue
            s = entry[0]
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # reset or closed by the server
                sel.unregister(s)
                s.close()
                del held[key.fd]
                closed += 1
    opened = len(held) + closed
    print(f"HELD opened={opened} failed={failed} closed_by_server={closed} open={len(held)}",
          flush=True)
    for s, _ in held.values():
        s.close()


if __name__ == "__main__":
    main()
