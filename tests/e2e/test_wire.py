"""Request framing on the wire (docs/PROTOCOL.md, "Request framing").

Every malformed head here was accepted before: a body smuggled behind a second
Content-Length, a device version lost to a folded or space-before-colon header,
a path or header value cut short by a NUL byte. Each now gets exactly one 400
(JSON on /api/, one line of text elsewhere) and a closed connection, while the
stock clients' requests (docs/reference/stock-clients.md §1-2) are answered as before.
"""

import contextlib
import re
import socket

import devices
from devices import Device
from harness import (HOST, Server, assert_api_error, assert_image, assert_not_modified,
                     assert_one_line_text, assert_status, make_image, md5_hex)


@contextlib.contextmanager
def door():
    """A running server with product door (esp8266) at 1.1.0; yields it and the image."""
    with Server() as srv:
        srv.add_product("door", "esp8266")
        path = make_image("esp8266", 120_000, seed=70, flash_size="4M")
        srv.add_release("door", path, "1.1.0")
        srv.start()
        yield srv, path.read_bytes()


def head(request_line, *lines, body=b""):
    """Raw head bytes: the request line and LINES (bytes or str) joined with CRLF."""
    parts = [request_line] + list(lines)
    raw = b"\r\n".join(p if isinstance(p, bytes) else p.encode("latin-1") for p in parts)
    return raw + b"\r\n\r\n" + body


def assert_refused(resp, what, reason=None, api=False):
    """Exactly one 400, its body ours (JSON on the API, one text line elsewhere), then a close."""
    assert not resp.timed_out, f"{what}: no answer: {resp.describe()}"
    statuses = re.findall(rb"(?:^|\n)HTTP/1\.\d \d{3} ", resp.raw)
    assert len(statuses) == 1, f"{what}: not exactly one response: {resp.raw[:400]!r}"
    if api:
        assert_api_error(resp, 400, "bad_request", what)
    else:
        assert_status(resp, 400, what)
        assert_one_line_text(resp, what)
    if reason:
        assert reason in resp.text, f"{what}: reason {resp.text!r} lacks {reason!r}"
    assert resp.closed, f"{what}: the connection stayed open after a refused head"


def version_checkin(version_line, port):
    """An ESP8266 3.1 check-in whose x-ESP8266-version line is VERSION_LINE (bytes)."""
    raw = devices.esp8266("/update/door", port, Device(version=None, sketch_md5="0" * 32))
    return raw.replace(b"\r\nContent-Length: 0", b"\r\n" + version_line + b"\r\nContent-Length: 0")


def assert_version_lines_refused(srv, lines, reason):
    for line in lines:
        assert_refused(srv.send(version_checkin(line, srv.port)), f"{line!r}", reason)


# --- Content-Length -------------------------------------------------------------------------------


def test_two_content_lengths_are_400_even_when_equal():
    with Server() as srv:
        srv.start()
        for values in (("0", "5"), ("5", "0"), ("0", "0"), ("3", "3")):
            raw = head("GET /healthz HTTP/1.1", "Host: x", *[f"Content-Length: {v}" for v in values],
                       "Connection: close", body=b"abc")
            assert_refused(srv.send(raw), f"Content-Length {values}", "Content-Length")
        token = srv.token("admin")
        raw = head("POST /api/v1/products HTTP/1.1", "Host: x", f"Authorization: Bearer {token}",
                   "Content-Type: application/json", "Content-Length: 2", "Content-Length: 2",
                   body=b"{}")
        assert_refused(srv.send(raw), "two Content-Length on the API", api=True)


def test_second_content_length_cannot_smuggle_a_request():
    # The body the second Content-Length claims is a whole request: it must never be answered.
    with Server() as srv:
        srv.start()
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        raw = head("GET /healthz HTTP/1.1", "Host: x", "Content-Length: 0",
                   f"Content-Length: {len(smuggled)}", body=smuggled)
        resp = srv.send(raw)
        assert_refused(resp, "keep-alive request with two Content-Length")
        assert b"ok\n" not in resp.raw, f"the smuggled request was answered: {resp.raw!r}"


# --- header lines ---------------------------------------------------------------------------------


def test_space_before_colon_is_400_not_a_lost_version():
    with door() as (srv, data):
        assert_image(srv.send(version_checkin(b"x-ESP8266-version: 1.0.0", srv.port)), data, "1.1.0",
                     "the same check-in, well formed")
        assert_version_lines_refused(srv, (b"x-ESP8266-version : 1.0.0", b"x-ESP8266-version\t: 1.0.0"),
                                     "header name")


def test_folded_header_lines_are_400():
    with door() as (srv, _):
        assert_version_lines_refused(srv, (b"x-ESP8266-version:\r\n 1.0.0", b"x-ESP8266-version: 1.0\r\n\t.0",
                                           b"User-Agent: ESP8266-http-Update\r\n more"), "folded")


def test_invalid_header_name_characters_are_400():
    with Server() as srv:
        srv.start()
        for name in (b"X(bad)", b"X@y", b"X/y", b"X\"y", b"X[1]", b"caf\xc3\xa9"):
            raw = head("GET /healthz HTTP/1.1", "Host: x", name + b": 1", "Connection: close")
            assert_refused(srv.send(raw), f"header name {name!r}", "header name")
        # An empty name: libmicrohttpd 0.9.75 takes the line for the end of the head when a
        # header precedes it (the walk then finds the rest), and hands it over when none does.
        for lines in (["Host: x", ": 1"], [": 1", "Host: x"]):
            assert_refused(srv.send(head("GET /healthz HTTP/1.1", *lines)), f"empty name {lines}")


def test_host_header_rules():
    with Server() as srv:
        srv.start()
        resp = srv.send(head("GET /healthz HTTP/1.1", "Connection: close"))
        assert_refused(resp, "HTTP/1.1 without Host", "Host")
        for version in ("HTTP/1.1", "HTTP/1.0"):
            resp = srv.send(head(f"GET /healthz {version}", "Host: a", "Host: a", "Connection: close"))
            assert_refused(resp, f"{version} with two Host headers", "Host")
        # HTTP/1.0 needs no Host: the stock example's request (§1.1) has none.
        resp = srv.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert_status(resp, 200, "HTTP/1.0 without Host")


def test_nul_in_the_method_is_400():
    with Server() as srv:
        srv.start()
        for line in (b"G\x00ET /healthz HTTP/1.1", b"GET\x00 /healthz HTTP/1.1",
                     b"GET  /healthz HTTP/1.1", b"GE(T /healthz HTTP/1.1"):
            assert_refused(srv.send(head(line, "Host: x", "Connection: close")), f"{line!r}")


# --- NUL bytes ------------------------------------------------------------------------------------


def test_percent_00_in_the_path_is_400():
    with door() as (srv, _):
        for target in ("/update/door%00evil", "/images/door/1.1.0%00.txt", "/update/door%00",
                       "/healthz%00", "/update/door?tag=1.0.0%00evil"):
            resp = srv.send(devices.esp8266(target, srv.port, Device(version="1.0.0")))
            assert_refused(resp, target, "NUL")
        token = srv.token("admin")
        resp = srv.api("GET", "/api/v1/products/door%00x", token)
        assert_refused(resp, "%00 in an API path", api=True)


def test_raw_nul_in_the_target_is_400():
    with door() as (srv, _):
        for target in (b"/update/door\x00evil", b"/update/door\x00HTTP/1.0",
                       b"/update/door?tag=1.0\x00x", b"/update/do\x00or?tag=1"):
            raw = head(b"GET " + target + b" HTTP/1.0", f"Host: 127.0.0.1:{srv.port}")
            assert_refused(srv.send(raw), f"{target!r}")


def test_nul_in_a_header_value_is_400():
    with door() as (srv, _):
        assert_version_lines_refused(srv, (b"x-ESP8266-version: 1.0.0\x00evil", b"x-ESP8266-version: 1.0.0\x00",
                                           b"x-ESP8266-version: \x001.0.0"), "malformed")
        # The NUL in the last header line, right before the blank line.
        raw = devices.esp8266("/update/door", srv.port, Device(version="1.0.0"), core="2.4")
        assert raw.endswith(b"\r\n\r\n")
        assert_refused(srv.send(raw[:-4] + b"\x00tail\r\n\r\n"), "NUL in the last header line")


# --- bodies ---------------------------------------------------------------------------------------


def test_chunk_extension_of_10kb_is_4xx():
    # libmicrohttpd answers a chunk-size line longer than the connection memory with a 500:
    # chunked bodies are refused with 411 before a byte of them is read.
    with Server() as srv:
        token = srv.token("admin")
        srv.start()
        for ext in (b"", b";" + b"a" * 10_240, b";" + b"a" * 100_000):
            raw = head("POST /api/v1/products HTTP/1.1", "Host: x", f"Authorization: Bearer {token}",
                       "Content-Type: application/json", "Transfer-Encoding: chunked",
                       "Connection: close", body=b"2" + ext + b"\r\n{}\r\n0\r\n\r\n")
            resp = srv.send(raw)
            assert_api_error(resp, 411, "length_required", f"chunk extension of {len(ext)} bytes")
        assert srv.api("GET", "/api/v1/products", token).json()["products"] == []


# --- what still passes ----------------------------------------------------------------------------


def test_stock_request_shapes_still_pass():
    with door() as (srv, data):
        older = Device(version="1.0.0", sketch_md5="0" * 32)
        for core in ("2.3", "2.4", "2.7", "3.1"):
            assert_image(srv.send(devices.esp8266("/update/door", srv.port, older, core=core)), data,
                         "1.1.0", f"ESP8266 core {core}")
        current = Device(version="1.1.0", sketch_md5=md5_hex(data))
        assert_not_modified(srv.send(devices.esp8266("/update/door", srv.port, current)), "current")
        for core in ("2", "3"):
            resp = srv.send(devices.esp32("/update/door", srv.port, older, core=core))
            assert_status(resp, 403, f"ESP32 core {core} on an ESP8266 product (a refusal of ours)")
        assert_status(srv.send(devices.http_client_get("/healthz", srv.port)), 200, "HTTPClient GET")
        # The stock example's request: HTTP/1.0, no Host, no leading slash (§1.1).
        assert_status(srv.send(b"GET update/door HTTP/1.0\r\n\r\n"), 304, "GET update/door HTTP/1.0")
        # Lenient but harmless: bare LF line ends, empty values, blanks around a value,
        # percent-encoding and odd query strings.
        assert_status(srv.send(b"GET /healthz HTTP/1.1\nHost: x\nX-Empty:\nConnection: close\n\n"),
                      200, "bare LF")
        resp = srv.send(head("GET /upd%61te/door?tag=1.0.0&x&y=&=z HTTP/1.0", "X:  \t spaced \t"))
        assert_image(resp, data, "1.1.0", "percent-encoded path and odd query")


def test_keepalive_requests_follow_each_other():
    with Server() as srv:
        srv.start()
        one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection((HOST, srv.port), timeout=5) as s:
            s.sendall(one + one + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                part = s.recv(65536)
                if not part:
                    break
                data += part
        assert data.count(b"HTTP/1.1 200 OK") == 3, f"three pipelined requests: {data!r}"
