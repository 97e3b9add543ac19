"""The image URL for ESP-IDF esp_https_ota (docs/reference/stock-clients.md §9, §13.13):
GET and HEAD /images/{product}/{version}, single byte ranges with 206 and a
clamped end, 416 past the end, and the whole body for ranges we ignore."""

import contextlib
import urllib.parse

from harness import Server, assert_status, make_blob, make_image, md5_hex, sha256_hex

VERSION = "1.0.0+build.7"          # '+' travels percent-encoded in the tests below


@contextlib.contextmanager
def idf_product():
    """Product 'idf' (esp32) with a sketch release VERSION and an fs release 2.0.0. Yields (srv, image, fs)."""
    image = make_image("esp32", 262_144 + 48, seed=21, hash_appended=True)
    fs = make_blob(100_000, seed=22)
    with Server() as srv:
        srv.add_product("idf", "esp32")
        srv.add_release("idf", image, VERSION)
        srv.add_release("idf", fs, "2.0.0", mode="fs")
        srv.start()
        yield srv, image.read_bytes(), fs.read_bytes()


def image_path(version=VERSION, query=""):
    return f"/images/idf/{urllib.parse.quote(version, safe='')}{query}"


def ranged(srv, spec, method="GET", path=None):
    return srv.send(f"{method} {path or image_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: {spec}\r\n"
                    f"Connection: close\r\n\r\n".encode())


def assert_partial(resp, data, first, last, what):
    size = len(data)
    assert_status(resp, 206, what)
    cr = resp.header("content-range")
    assert cr == f"bytes {first}-{last}/{size}", f"{what}: Content-Range {cr!r}, expected bytes {first}-{last}/{size}"
    assert resp.header_values("content-length") == [str(last - first + 1)], f"{what}: {resp.describe()}"
    assert resp.body == data[first:last + 1], f"{what}: body is not bytes {first}..{last}"


def test_get_serves_whole_image_with_headers():
    with idf_product() as (srv, data, _):
        resp = srv.get(image_path())
        assert_status(resp, 200, "GET /images")
        assert resp.header_values("content-length") == [str(len(data))], resp.describe()
        assert resp.header("accept-ranges") == "bytes", f"Accept-Ranges: {resp.describe()}"
        assert resp.header("x-md5") == md5_hex(data), f"x-MD5: {resp.describe()}"
        assert resp.header("etag") == f'"{sha256_hex(data)}"', f"ETag: {resp.describe()}"
        assert resp.header("transfer-encoding") is None, "chunked image"
        assert resp.body == data, "body differs from the published image"


def test_get_fs_release_with_mode_query():
    with idf_product() as (srv, _, fs):
        resp = srv.get(image_path("2.0.0", "?mode=fs"))
        assert_status(resp, 200, "GET /images/idf/2.0.0?mode=fs")
        assert resp.body == fs, "fs body differs"


def test_plain_http10_get_as_esp_idf_sends():
    # esp_http_client GET with no identity headers (§1.3).
    with idf_product() as (srv, data, _):
        resp = srv.send(f"GET {image_path()} HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: ESP32 HTTP Client/1.0\r\n\r\n".encode())
        assert_status(resp, 200, "HTTP/1.0 GET /images")
        assert resp.body == data and resp.closed, f"HTTP/1.0: whole body then close: {resp.describe()}"


def test_head_has_headers_and_no_body():
    with idf_product() as (srv, data, _):
        resp = srv.send(f"HEAD {image_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        assert_status(resp, 200, "HEAD /images")
        assert resp.header_values("content-length") == [str(len(data))], f"HEAD Content-Length: {resp.describe()}"
        assert resp.header("accept-ranges") == "bytes", resp.describe()
        assert resp.header("x-md5") == md5_hex(data), resp.describe()
        assert resp.header("etag") == f'"{sha256_hex(data)}"', resp.describe()
        assert resp.raw_body == b"", f"HEAD sent {len(resp.raw_body)} body bytes"


def test_range_first_byte():
    # §9: without a 200 HEAD, esp_https_ota asks for bytes=0-0 to learn the length.
    with idf_product() as (srv, data, _):
        assert_partial(ranged(srv, "bytes=0-0"), data, 0, 0, "bytes=0-0")


def test_range_middle_slice():
    with idf_product() as (srv, data, _):
        assert_partial(ranged(srv, "bytes=65536-131071"), data, 65536, 131071, "bytes=65536-131071")


def test_range_end_equal_to_size_is_clamped():
    # §9/§13.13: the first ranged request may ask for one past the last index.
    with idf_product() as (srv, data, _):
        size = len(data)
        assert_partial(ranged(srv, f"bytes=0-{size}"), data, 0, size - 1, f"bytes=0-{size}")


def test_range_end_far_past_size_is_clamped():
    with idf_product() as (srv, data, _):
        size = len(data)
        assert_partial(ranged(srv, f"bytes={size - 100}-{size + 65535}"), data, size - 100, size - 1,
                       "end 64 KiB past the image")


def test_range_open_ended():
    # §9: the last partial request and resumption send bytes=<start>-.
    with idf_product() as (srv, data, _):
        size = len(data)
        assert_partial(ranged(srv, "bytes=200000-"), data, 200000, size - 1, "bytes=200000-")


def test_range_suffix():
    with idf_product() as (srv, data, _):
        size = len(data)
        assert_partial(ranged(srv, "bytes=-32"), data, size - 32, size - 1, "bytes=-32 (the appended sha256)")


def test_range_start_at_size_is_416():
    with idf_product() as (srv, data, _):
        size = len(data)
        resp = ranged(srv, f"bytes={size}-")
        assert_status(resp, 416, f"bytes={size}-")
        assert resp.header("content-range") == f"bytes */{size}", f"416 Content-Range: {resp.describe()}"


def test_range_start_past_size_is_416():
    with idf_product() as (srv, data, _):
        size = len(data)
        resp = ranged(srv, f"bytes={size + 10}-{size + 20}")
        assert_status(resp, 416, "range entirely past the end")
        assert resp.header("content-range") == f"bytes */{size}", resp.describe()


def test_malformed_range_gets_whole_body():
    with idf_product() as (srv, data, _):
        for spec in ("bytes=abc", "bytes=5-2", "items=0-10", "bytes=", "bytes=--1"):
            resp = ranged(srv, spec)
            assert_status(resp, 200, f"Range: {spec}")
            assert resp.body == data, f"Range: {spec}: body is not the whole image"


def test_multi_range_gets_whole_body():
    with idf_product() as (srv, data, _):
        resp = ranged(srv, "bytes=0-1,5-6")
        assert_status(resp, 200, "Range: bytes=0-1,5-6")
        assert resp.body == data, "multi-range: body is not the whole image"


def test_head_with_range():
    with idf_product() as (srv, data, _):
        resp = ranged(srv, "bytes=0-0", method="HEAD")
        assert_status(resp, 206, "HEAD with bytes=0-0")
        assert resp.header("content-range") == f"bytes 0-0/{len(data)}", resp.describe()
        assert resp.raw_body == b"", "HEAD sent a body"


def test_unknown_version_is_404():
    with idf_product() as (srv, _, _):
        assert_status(srv.get(image_path("9.9.9")), 404, "unknown version")


def test_unknown_product_is_404():
    with idf_product() as (srv, _, _):
        assert_status(srv.get("/images/nosuch/1.0.0"), 404, "unknown product")


def test_fs_version_without_mode_query_is_404():
    with idf_product() as (srv, _, _):
        assert_status(srv.get(image_path("2.0.0")), 404, "2.0.0 exists only as an fs release")


def test_esp_idf_partial_download_sequence():
    # §9: HEAD for the length, then 64 KiB ranges; the first asks one past the end of its
    # window as esp_https_ota can, the last is open-ended. The pieces must reassemble the image.
    with idf_product() as (srv, data, _):
        head = srv.send(f"HEAD {image_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        assert_status(head, 200, "HEAD")
        size = int(head.header("content-length"))
        got = bytearray()
        step = 65536
        while len(got) < size:
            start = len(got)
            spec = f"bytes={start}-" if start + step >= size else f"bytes={start}-{start + step - 1}"
            resp = ranged(srv, spec)
            assert_status(resp, 206, spec)
            got += resp.body
        assert bytes(got) == data, "ranges do not reassemble the image"
