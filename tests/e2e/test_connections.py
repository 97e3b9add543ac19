"""Connections and threads: the per-address connection limit
(max_connections_per_ip) and the HTTP worker count, one per CPU otad may use
(its affinity mask and cgroup quota; docs/OPERATIONS.md)."""

import os
import socket
import time
from pathlib import Path

import devices
from devices import Device
from harness import HOST, Server, assert_not_modified, assert_status, make_image, md5_hex, wait_until


def hold(port, n):
    """N keep-alive connections, each known to be accepted (it got its answer); still open."""
    held = []
    for i in range(n):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"ok\n" not in data:
            part = s.recv(4096)
            assert part, f"held connection {i + 1} of {n} was closed: {data!r}"
            data += part
        held.append(s)
    return held


def refused_at_once(port):
    """True when a new connection is closed without a byte of answer."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(4096) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True


def test_connections_per_address_are_limited():
    with Server(args=["--max-connections-per-ip", "4"]) as srv:
        srv.add_product("door", "esp8266")
        path = make_image("esp8266", 120_000, seed=70, flash_size="4M")
        srv.add_release("door", path, "1.1.0")
        data = path.read_bytes()
        srv.start()
        checkin = devices.esp8266("/update/door", srv.port, Device(version="1.1.0", sketch_md5=md5_hex(data)))
        held = hold(srv.port, 3)
        try:
            assert_not_modified(srv.send(checkin), "a check-in as the 4th connection of 4")
            held += hold(srv.port, 1)
            assert refused_at_once(srv.port), "a 5th connection from 127.0.0.1 was served"
            resp = srv.send(checkin)
            assert resp.raw == b"" and resp.closed, f"a 5th check-in: {resp.describe()}"
            held.pop().close()
            wait_until(lambda: srv.send(checkin).status == 304, what="a check-in once one closed")
        finally:
            for s in held:
                s.close()
        assert srv.running()


def test_connections_per_address_default_and_off():
    with Server() as srv:
        srv.start()
        held = hold(srv.port, 64)
        try:
            assert refused_at_once(srv.port), "the 65th connection with the default of 64 was served"
        finally:
            for s in held:
                s.close()
    with Server(args=["--max-connections-per-ip", "0"]) as srv:
        srv.start()
        held = hold(srv.port, 80)
        try:
            assert_status(srv.get("/healthz"), 200, "the 81st connection with the limit off")
        finally:
            for s in held:
                s.close()


def http_threads(pid, expect=None):
    """libmicrohttpd's threads of PID by name: its pool's workers, or its one internal thread.
    Each thread names itself once it runs, which may be after the server logged that it
    listens: with EXPECT, wait (up to 5 s) for the counts to become that."""
    def count():
        names = [Path(t, "comm").read_text().strip() for t in Path(f"/proc/{pid}/task").iterdir()]
        return names.count("MHD-worker"), names.count("MHD-single")
    if expect is not None:
        deadline = time.monotonic() + 5
        while count() != expect and time.monotonic() < deadline:
            time.sleep(0.02)
    return count()


def test_threads_follow_the_cpus_otad_may_use():
    with Server(prefix=["taskset", "-c", "0"]) as srv:
        srv.start()
        assert "http: 1 worker thread per listener (default; CPUs usable: 1, affinity 1," in srv.log(), srv.log_tail()
        assert http_threads(srv.proc.pid, (0, 1)) == (0, 1), f"threads under taskset -c 0: {http_threads(srv.proc.pid)}"
        assert_status(srv.get("/healthz"), 200, "served by the one thread")
    with Server(prefix=["taskset", "-c", "0"], args=["--threads", "3"]) as srv:
        srv.start()
        assert "http: 3 worker threads per listener (--threads;" in srv.log(), srv.log_tail()
        assert http_threads(srv.proc.pid, (3, 0)) == (3, 0), f"--threads 3: {http_threads(srv.proc.pid)}"
    mine = len(os.sched_getaffinity(0))
    with Server() as srv:
        srv.start()
        assert f"affinity {mine}," in srv.log(), f"this process may use {mine} CPUs: {srv.log_tail()}"
        line = [l for l in srv.log().splitlines() if "worker thread" in l][0]
        logged = int(line.split("http: ")[1].split()[0])
        workers, single = http_threads(srv.proc.pid, (logged, 0) if logged > 1 else (0, 1))
        assert 1 <= logged <= mine, line
        assert (workers, single) == ((logged, 0) if logged > 1 else (0, 1)), f"{line}: {(workers, single)}"


def test_the_daemons_own_threads_are_named():
    """top -H and perf tell the daemon's threads apart: each one otad starts names itself."""
    with Server() as srv:
        srv.start()
        want = {"otad-registry", "otad-refresher", "otad-dashboard", "otad-notify", "otad-poller"}

        def names():
            return {Path(t, "comm").read_text().strip() for t in Path(f"/proc/{srv.proc.pid}/task").iterdir()}
        deadline = time.monotonic() + 5
        while not want <= names() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert want <= names(), f"threads: {sorted(names())}"
