"""Hostile and odd input on the socket: garbage, a 10 KB request line,
oversized and malformed headers, requests trickled a few bytes at a time,
clients that vanish mid-request. The server answers 4xx or closes, never
hangs, and the next normal check-in still works (DESIGN.md: "bad input
never crashes the daemon")."""

import contextlib
import random
import socket
import time

import devices
from devices import Device
from harness import (HOST, Response, Server, assert_image, assert_not_modified, assert_status,
                     http_request, make_image, md5_hex)

OVERSIZE_CODES = (400, 413, 414, 431)


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


def assert_4xx_or_closed(resp, what):
    assert not resp.timed_out, f"{what}: no answer and no close within the timeout: {resp.describe()}"
    if resp.raw:
        assert resp.status is not None and 400 <= resp.status < 500, f"{what}: expected 4xx or a close, got {resp.describe()}"


def test_garbage_bytes_then_checkin_works():
    # Input without a line end may just sit until the idle timeout: keep that short here.
    with door(["--connection-timeout-s", "3"]) as (srv, data):
        for blob in (bytes(random.Random(1).randbytes(4096)),
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),   # a TLS ClientHello
                     b"\x00" * 64 + b"\r\n\r\n"):
            assert_4xx_or_closed(srv.send(blob, timeout=15), f"garbage {blob[:8]!r}")
        assert_still_serving(srv, data)


def test_10kb_request_line_in_query_gets_4xx():
    # The request-target as a whole is capped, query string included.
    with door() as (srv, data):
        target = "/update/door?tag=" + "1" * 10_240
        resp = srv.send(devices.esp8266(target, srv.port, Device(version="1.0.0")))
        assert resp.status in OVERSIZE_CODES, f"10 KB request line (long query): expected one of {OVERSIZE_CODES}, got {resp.describe()}"
        assert_still_serving(srv, data)


def test_10kb_request_line_in_path_gets_4xx():
    with door() as (srv, data):
        target = "/update/" + "d" * 10_240
        resp = srv.send(devices.esp8266(target, srv.port, Device(version="1.0.0")))
        assert resp.status in OVERSIZE_CODES, f"10 KB request line (long path): expected one of {OVERSIZE_CODES}, got {resp.describe()}"
        assert_still_serving(srv, data)


def test_oversized_header_gets_4xx():
    with door() as (srv, data):
        dev = Device(version="1.0.0", extra=[("X-Padding", "a" * 40_000)])
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev))
        assert resp.status in OVERSIZE_CODES, f"40 KB header: expected one of {OVERSIZE_CODES}, got {resp.describe()}"
        assert_still_serving(srv, data)


def test_many_headers_over_memory_limit_get_4xx():
    with door() as (srv, data):
        dev = Device(version="1.0.0", extra=[(f"X-H{i}", "v" * 60) for i in range(1000)])
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev))
        assert resp.status in OVERSIZE_CODES, f"1000 headers (~70 KB): expected one of {OVERSIZE_CODES}, got {resp.describe()}"
        assert_still_serving(srv, data)


def test_many_small_headers_do_not_hide_identity_headers():
    # 70 short headers (about 1 KB) ahead of the identity headers, as a chatty proxy might add:
    # either decide on the identity headers or refuse; never decide as if they were absent.
    with door() as (srv, data):
        dev = Device(version="1.0.0", sketch_md5="0" * 32)
        raw = devices._join("GET /update/door HTTP/1.0", [("Host", "127.0.0.1")] +
                            [(f"X-Proxy-{i}", "v") for i in range(70)] + devices.esp8266_headers(dev))
        resp = srv.send(raw)
        if resp.status == 200:
            assert_image(resp, data, "1.1.0", "70 extra headers, then an older device's identity")
        else:
            assert resp.status in (400, 431), \
                f"70 extra headers before x-ESP8266-*: expected the image or 400/431, got {resp.describe()}"


def test_oversized_version_header_gets_400():
    # A version longer than any release version can be is malformed identity, not a crash.
    with door() as (srv, data):
        resp = srv.send(devices.esp8266("/update/door", srv.port, Device(version="9" * 300)))
        assert resp.status == 400, f"300-byte x-ESP8266-version: {resp.describe()}"
        assert_still_serving(srv, data)


def test_header_line_without_colon():
    with door() as (srv, data):
        raw = b"GET /update/door HTTP/1.0\r\nHost: 127.0.0.1\r\nthis is not a header\r\n\r\n"
        assert_4xx_or_closed(srv.send(raw), "header line without a colon")
        assert_still_serving(srv, data)


def test_nul_in_request_line():
    with door() as (srv, data):
        assert_4xx_or_closed(srv.send(b"GET /update/do\x00or HTTP/1.0\r\n\r\n"), "NUL in the request target")
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
        assert resp.status is not None and 400 <= resp.status < 500, f"POST /update/door: {resp.describe()}"
        assert_still_serving(srv, data)


def test_path_traversal_in_image_url_is_404():
    with door() as (srv, data):
        for target in ("/images/door/..%2F..%2Fotad.db", "/images/../otad.db", "/images/door/%2e%2e"):
            resp = srv.get(target)
            assert resp.status in (400, 404), f"{target}: {resp.describe()}"
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
