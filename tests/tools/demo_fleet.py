#!/usr/bin/env python3
"""A small demo fleet for scripts/demo: COUNT stock ESP8266 check-ins (the exact
bytes of core 3.1, tests/e2e/devices.py) against a local otad, so the
dashboard has devices to show the moment a newcomer signs in.

Most devices report the current release (answered 304); a few report an older
one and download the image they are offered (200), as a real device would.
Bounded: one check-in per device, a few seconds at most, then it exits.

usage: demo_fleet.py PORT PRODUCT CURRENT_VERSION [COUNT]
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import devices  # noqa: E402  (the stock clients' bytes, shared with the e2e tests)

WAIT_FOR_SERVER_S = 30
IO_TIMEOUT_S = 10


def exchange(port, request):
    """Sends REQUEST and reads the whole answer; returns the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def main():
    port, product, current = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 24
    deadline = time.monotonic() + WAIT_FOR_SERVER_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("demo_fleet: the server did not start")
            time.sleep(0.2)
    answers = {}
    for n in range(1, count + 1):
        old = n % 4 == 0  # a quarter of the fleet is behind
        dev = devices.Device(sta_mac=devices.mac(n, prefix="18:FE:DE"), chip_id=0xDE0000 + n,
                             version="0.9.0" if old else current)
        status = exchange(port, devices.esp8266(f"/update/{product}", port, dev))
        answers[status] = answers.get(status, 0) + 1
    print("demo fleet: %d devices checked in (%s)" % (
        count, ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))), flush=True)


if __name__ == "__main__":
    main()
