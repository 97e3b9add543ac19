"""Hostile and odd input on the socket: garbage, a 10 KB request line,
oversized and malformed headers, requests trickled a few bytes at a time,
clients that vanish mid-request. Each gets the one status the server sends
for it (libmicrohttpd's own for a head it cannot hold or parse, otad's for
the rest), or, for bytes that never become a head, a close at the idle
timeout; nothing hangs, and the next normal check-in still works
(DESIGN.md: "bad input never crashes the daemon")."""

import contextlib
import random
import socket
import time

import devices
from devices import Device
from harness import (HOST, Response, Server, assert_image, assert_not_modified, assert_status,
                     http_request, make_image, md5_hex)

IDLE_TIMEOUT_S = 3  # --connection-timeout-s of the garbage test: a head never completed ends there


@contextlib.contextmanager
def door(args=()):
    with Server(args=list(args)) as srv:
        srv.add_product("door", "esp8266")
        path = make_image("esp8266", 120_000, seed=70, flash_size="4M")
        srv.add_release("door", path, "1.1.0")
        srv.start()
        yield srv, path.read_bytes()


def assert_still_serving(srv, data):
    """A normal 3.1 check-in right after: current gets 304, older gets the image."""
    current = Device(version="1.1.0", sketch_md5=md5_hex(data))
    assert_not_modified(srv.send(devices.esp8266("/update/door", srv.port, current)), "check-in after bad input")
    older = Device(version="1.0.0", sketch_md5="0" * 32)
    assert_image(srv.send(devices.esp8266("/update/door", srv.port, older)), data, "1.1.0", "check-in after bad input")
    assert srv.running(), f"otad died: {srv.log_tail()}"


def assert_closed_unanswered(srv, blob, what):
    """BLOB never becomes a request head: no byte of answer, a close at the idle timeout."""
    start = time.monotonic()
    resp = srv.send(blob, timeout=15)
    waited = time.monotonic() - start
    assert resp.closed and not resp.timed_out, f"{what}: {resp.describe()}"
    assert resp.raw == b"", f"{what}: expected no answer, got {resp.describe()}"
    assert waited >= IDLE_TIMEOUT_S - 0.5, f"{what}: closed after {waited:.1f} s, before the idle timeout"


def test_garbage_bytes_then_checkin_works():
    # Input without a line end sits until the idle timeout: keep that short here.
    with door(["--connection-timeout-s", str(IDLE_TIMEOUT_S)]) as (srv, data):
        # These bytes (seeded) hold line ends: libmicrohttpd refuses the first "line" at once.
        resp = srv.send(bytes(random.Random(1).randbytes(4096)), timeout=15)
        assert_status(resp, 400, "4 KB of random bytes")
        assert resp.closed, f"4 KB of random bytes: the connection stayed open: {resp.describe()}"
        # A TLS ClientHello has no line end at all.
        assert_closed_unanswered(srv, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),
                                 "a TLS ClientHello")
        # A line of NULs reads as an empty line (the string ends at its first byte), and empty
        # lines before a request line are skipped: the head is still to come when the time is up.
        assert_closed_unanswered(srv, b"\x00" * 64 + b"\r\n\r\n", "NUL bytes and blank lines")
        assert_still_serving(srv, data)


# A head larger than --connection-memory (8 KiB by default) is refused by libmicrohttpd itself,
# before otad sees it: 414 while the request line is still being read, 431 in the headers.


def test_10kb_request_line_in_query_gets_414():
    # The request-target as a whole is capped, query string included.
    with door() as (srv, data):
        target = "/update/door?tag=" + "1" * 10_240
        resp = srv.send(devices.esp8266(target, srv.port, Device(version="1.0.0")))
        assert_status(resp, 414, "10 KB request line (long query)")
        assert_still_serving(srv, data)


def test_10kb_request_line_in_path_gets_414():
    with door() as (srv, data):
        target = "/update/" + "d" * 10_240
        resp = srv.send(devices.esp8266(target, srv.port, Device(version="1.0.0")))
        assert_status(resp, 414, "10 KB request line (long path)")
        assert_still_serving(srv, data)


def test_request_target_over_the_url_limit_gets_414():
    # Under the connection memory but over LIMIT_URL_BYTES (2 KiB): otad's own 414.
    with door() as (srv, data):
        resp = srv.send(devices.esp8266("/update/door?tag=" + "1" * 3000, srv.port, Device(version="1.0.0")))
        assert_status(resp, 414, "3 KB request-target")
        assert resp.text.startswith("request-target too long"), resp.describe()
        assert_still_serving(srv, data)


def test_oversized_header_gets_431():
    with door() as (srv, data):
        dev = Device(version="1.0.0", extra=[("X-Padding", "a" * 40_000)])
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev))
        assert_status(resp, 431, "40 KB header")
        assert_still_serving(srv, data)


def test_many_headers_over_memory_limit_get_431():
    with door() as (srv, data):
        dev = Device(version="1.0.0", extra=[(f"X-H{i}", "v" * 60) for i in range(1000)])
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev))
        assert_status(resp, 431, "1000 headers (~70 KB)")
        assert_still_serving(srv, data)


def test_many_small_headers_do_not_hide_identity_headers():
    # 70 short headers (about 1 KB) ahead of the identity headers, as a chatty proxy might add:
    # more than the 64 a handler looks at (LIMIT_HEADERS_PER_REQUEST), so the request is refused
    # with 431, never decided as if the identity headers after them were absent.
    with door() as (srv, data):
        dev = Device(version="1.0.0", sketch_md5="0" * 32)
        raw = devices._join("GET /update/door HTTP/1.0", [("Host", "127.0.0.1")] +
                            [(f"X-Proxy-{i}", "v") for i in range(70)] + devices.esp8266_headers(dev))
        resp = srv.send(raw)
        assert_status(resp, 431, "70 extra headers before x-ESP8266-*")
        assert resp.text == "too many header fields\n", resp.describe()
        # Up to the limit, the identity headers are read and decided on.
        raw = devices._join("GET /update/door HTTP/1.0", [("Host", "127.0.0.1")] +
                            [(f"X-Proxy-{i}", "v") for i in range(64 - 1 - len(devices.esp8266_headers(dev)))] +
                            devices.esp8266_headers(dev))
        assert_image(srv.send(raw), data, "1.1.0", "64 headers, the identity headers last")


def test_oversized_version_header_gets_400():
    # A version longer than any release version can be is malformed identity, not a crash.
    with door() as (srv, data):
        resp = srv.send(devices.esp8266("/update/door", srv.port, Device(version="9" * 300)))
        assert resp.status == 400, f"300-byte x-ESP8266-version: {resp.describe()}"
        assert_still_serving(srv, data)


def test_header_line_without_colon():
    with door() as (srv, data):
        raw = b"GET /update/door HTTP/1.0\r\nHost: 127.0.0.1\r\nthis is not a header\r\n\r\n"
        resp = srv.send(raw)  # libmicrohttpd's own refusal of a line that is no header
        assert_status(resp, 400, "header line without a colon")
        assert_still_serving(srv, data)


def test_nul_in_request_line():
    with door() as (srv, data):
        resp = srv.send(b"GET /update/do\x00or HTTP/1.0\r\n\r\n")
        assert_status(resp, 400, "NUL in the request target")
        assert resp.text.startswith("malformed request head"), resp.describe()
        assert_still_serving(srv, data)


def test_client_vanishing_mid_request():
    with door() as (srv, data):
        for cut in (5, 40, 200):
            req = devices.esp8266("/update/door", srv.port, Device(version="1.0.0"))
            with socket.create_connection((HOST, srv.port), timeout=5) as s:
                s.sendall(req[:cut])
        assert_still_serving(srv, data)


def test_client_vanishing_mid_download():
    with door() as (srv, data):
        for _ in range(3):
            with socket.create_connection((HOST, srv.port), timeout=5) as s:
                s.sendall(devices.esp8266("/update/door", srv.port, Device(version="1.0.0", sketch_md5="0" * 32)))
                s.recv(1024)
        assert_still_serving(srv, data)


def test_request_trickled_in_small_pieces():
    # A device's TCP stack may send the request in several small segments.
    with door() as (srv, data):
        req = devices.esp8266("/update/door", srv.port, Device(version="1.0.0", sketch_md5="0" * 32))
        s = socket.create_connection((HOST, srv.port), timeout=10)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(req), 7):
                s.sendall(req[i:i + 7])
                time.sleep(0.002)
            buf = bytearray()
            closed = False
            deadline = time.monotonic() + 10
            while not closed and time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                closed = not chunk
                buf += chunk
        finally:
            s.close()
        assert_image(Response(bytes(buf), closed=closed), data, "1.1.0", "request sent 7 bytes at a time")


def test_post_to_device_endpoint_is_rejected():
    with door() as (srv, data):
        raw = b"POST /update/door HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
        resp = srv.send(raw)
        assert_status(resp, 405, "POST /update/door")
        assert resp.header("allow") == "GET, HEAD", f"Allow {resp.header('allow')!r}"
        assert_still_serving(srv, data)


def test_path_traversal_in_image_url_is_404():
    with door() as (srv, data):
        for target in ("/images/door/..%2F..%2Fotad.db", "/images/../otad.db", "/images/door/%2e%2e"):
            # Routed as sent (".." is a version or a product like any other name): no such release.
            resp = srv.get(target)
            assert_status(resp, 404, target)
            assert b"SQLite format" not in resp.body, f"{target} served the database"
        assert_still_serving(srv, data)


def test_healthz_allows_get_and_head_only():
    with Server() as srv:
        srv.start()
        resp = srv.get("/healthz")
        assert_status(resp, 200, "GET /healthz")
        assert resp.body == b"ok\n"
        resp = srv.send(http_request("HEAD", "/healthz"))
        assert_status(resp, 200, "HEAD /healthz")
        assert resp.raw_body == b"", f"HEAD with a body: {resp.describe()}"
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"):
            body = b"x" if method in ("PUT", "PATCH") else b""
            resp = srv.send(http_request(method, "/healthz", body=body))
            assert_status(resp, 405, f"{method} /healthz")
            assert resp.header("allow") == "GET, HEAD", f"{method}: Allow {resp.header('allow')!r}"
