"""Publishing through the JSON API with the real curl, as CI does: bearer
tokens and scopes, raw and multipart bodies, validation (422, nothing
stored), the upload cap (413), idempotent re-publish (200) and conflicts
(409). Plus the product endpoints and /healthz."""

import contextlib
import random
import threading

import devices
from devices import Device
from harness import (Server, assert_api_error, assert_image, assert_status, curl, curl_publish, json_list,
                     make_blob, make_image, md5_hex, scratch_file, sha256_hex)


@contextlib.contextmanager
def publishing(args=(), platform="esp8266"):
    """A running server with product 'door' and an admin token. Yields (srv, admin_token)."""
    with Server(args=list(args)) as srv:
        srv.add_product("door", platform)
        token = srv.token("admin")
        srv.start()
        yield srv, token


def image(seed=1, size=120_000, platform="esp8266"):
    return make_image(platform, size, seed=seed, flash_size="4M")


def assert_release_matches(rel, data, version, mode="sketch", channel="stable"):
    assert rel.get("version") == version, f"version {rel.get('version')!r} != {version!r}: {rel}"
    assert rel.get("product") == "door", f"product: {rel}"
    assert rel.get("mode") == mode, f"mode {rel.get('mode')!r} != {mode!r}"
    assert rel.get("channel") == channel, f"channel {rel.get('channel')!r} != {channel!r}"
    assert rel.get("size") == len(data), f"size {rel.get('size')} != {len(data)}"
    assert rel.get("md5") == md5_hex(data), f"md5 {rel.get('md5')} != {md5_hex(data)}"
    assert rel.get("sha256") == sha256_hex(data), f"sha256 {rel.get('sha256')} != {sha256_hex(data)}"
    plain = [v for v in rel.get("variants", []) if v.get("kind") == "plain"]
    assert len(plain) == 1, f"expected one plain variant: {rel.get('variants')}"
    assert (plain[0].get("size"), plain[0].get("md5"), plain[0].get("sha256")) == \
        (len(data), md5_hex(data), sha256_hex(data)), f"plain variant differs from the image: {plain[0]}"
    for key in ("id", "seq", "created", "source"):
        assert key in rel, f"release lacks {key!r}: {rel}"


def old_device(srv):
    return devices.esp8266("/update/door", srv.port, Device(version="0.0.1", sketch_md5="0" * 32))


# -- Publishing


def test_publish_raw_body_with_curl():
    path = image()
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", path, token, version="1.0.0", notes="first build")
        assert r.status == 201, r.describe()
        assert_release_matches(r.json()["release"], path.read_bytes(), "1.0.0")
        assert r.json()["release"].get("notes") == "first build", f"notes: {r.json()}"


def test_published_release_is_served_to_devices():
    path = image()
    with publishing() as (srv, token):
        assert curl_publish(srv, "door", path, token, version="1.0.0").status == 201
        resp = srv.wait_release_visible("door", "1.0.0", old_device(srv))
        assert_image(resp, path.read_bytes(), "1.0.0", "after an API publish")


def test_publish_multipart_with_curl():
    path = image(seed=2)
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", path, token, version="1.1.0", channel="beta", multipart=True)
        assert r.status == 201, r.describe()
        assert_release_matches(r.json()["release"], path.read_bytes(), "1.1.0", channel="beta")


def test_publish_fs_mode():
    blob = make_blob(64_000, seed=3)
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", blob, token, version="1.0.0", mode="fs")
        assert r.status == 201, r.describe()
        assert_release_matches(r.json()["release"], blob.read_bytes(), "1.0.0", mode="fs")


def test_publish_esp32_image():
    path = image(seed=4, platform="esp32")
    with publishing(platform="esp32") as (srv, token):
        r = curl_publish(srv, "door", path, token, version="1.0.0")
        assert r.status == 201, r.describe()


def test_publish_scope_token_may_publish():
    path = image()
    with publishing() as (srv, _):
        token = srv.token("publish", name="ci")
        r = curl_publish(srv, "door", path, token, version="1.0.0")
        assert r.status == 201, r.describe()


def test_release_list_newest_first():
    with publishing() as (srv, token):
        for i, version in enumerate(("1.0.0", "1.1.0", "1.2.0")):
            assert curl_publish(srv, "door", image(seed=10 + i), token, version=version).status == 201
        rels = srv.releases("door", token)
        versions = [rel["version"] for rel in rels]
        assert versions == ["1.2.0", "1.1.0", "1.0.0"], f"releases not newest first: {versions}"
        seqs = [rel["seq"] for rel in rels]
        assert seqs[0] > seqs[1] > seqs[2], f"seq must follow publish order: {seqs}"


def test_republish_identical_bytes_is_idempotent():
    path = image()
    with publishing() as (srv, token):
        first = curl_publish(srv, "door", path, token, version="1.0.0")
        again = curl_publish(srv, "door", path, token, version="1.0.0")
        assert first.status == 201, first.describe()
        assert again.status == 200, f"re-publishing identical bytes: {again.describe()}"
        assert again.json()["release"]["id"] == first.json()["release"]["id"], "re-publish made a new release"
        assert len(srv.releases("door", token)) == 1, "re-publish added a release"


def test_republish_different_bytes_conflicts():
    with publishing() as (srv, token):
        assert curl_publish(srv, "door", image(seed=1), token, version="1.0.0").status == 201
        r = curl_publish(srv, "door", image(seed=2), token, version="1.0.0")
        assert r.status == 409, f"same version, different bytes: {r.describe()}"
        assert r.json()["error"]["code"] == "conflict", r.describe()
        rels = srv.releases("door", token)
        assert [x["sha256"] for x in rels] == [sha256_hex(image(seed=1).read_bytes())], \
            f"the conflicting upload changed the stored release: {rels}"


def concurrently(*calls):
    """Runs the CALLS (no-argument functions) at once; returns their results in order."""
    results = [None] * len(calls)

    def run(i):
        results[i] = calls[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_conflicting_publishes_store_exactly_one():
    big = [make_image("esp8266", 4 << 20, seed=s, flash_size="16M") for s in (31, 32)]
    with publishing() as (srv, token):
        a, b = concurrently(*[lambda p=p: curl_publish(srv, "door", p, token, version="2.0.0") for p in big])
        statuses = sorted([a.status, b.status])
        assert statuses == [201, 409], f"two uploads of 2.0.0 with different bytes at once: {a.describe()} / {b.describe()}"
        winner = big[0] if a.status == 201 else big[1]
        rels = srv.releases("door", token)
        assert [r["sha256"] for r in rels] == [sha256_hex(winner.read_bytes())], \
            f"stored release is not the one answered 201: {rels}"


def test_concurrent_identical_publishes_make_one_release():
    path = make_image("esp8266", 4 << 20, seed=33, flash_size="16M")
    with publishing() as (srv, token):
        results = concurrently(*[lambda: curl_publish(srv, "door", path, token, version="2.0.0")] * 3)
        statuses = sorted(r.status for r in results)
        assert statuses == [200, 200, 201], f"three identical uploads at once: {[r.describe() for r in results]}"
        ids = {r.json()["release"]["id"] for r in results}
        assert len(ids) == 1, f"identical uploads got different release ids: {ids}"
        assert len(srv.releases("door", token)) == 1, "identical concurrent uploads stored several releases"


def test_same_version_other_mode_is_a_separate_release():
    with publishing() as (srv, token):
        assert curl_publish(srv, "door", image(), token, version="1.0.0").status == 201
        r = curl_publish(srv, "door", make_blob(32_000, seed=5), token, version="1.0.0", mode="fs")
        assert r.status == 201, f"fs release with a sketch release's version: {r.describe()}"


def test_publish_without_version_is_400():
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", image(), token)
        assert r.status == 400, r.describe()
        assert r.json()["error"]["code"] == "bad_request", r.describe()


def test_publish_with_empty_version_is_400():
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", image(), token, version="")
        assert r.status == 400, f"?version= (empty): {r.describe()}"


def test_publish_with_bad_channel_is_400():
    # Channel names: 1-32 of [a-z0-9._-], starting with a letter or digit.
    with publishing() as (srv, token):
        for channel in ("Beta", "be ta", "-beta", "c" * 33):
            r = curl_publish(srv, "door", image(), token, version="1.0.0", channel=channel)
            assert r.status == 400, f"channel {channel!r}: {r.describe()}"
        assert srv.releases("door", token) == [], "a release with a bad channel was stored"


def test_publish_with_bad_mode_is_400():
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", image(), token, version="1.0.0", mode="bootloader")
        assert r.status == 400, f"mode=bootloader: {r.describe()}"


def test_multipart_without_image_field_is_400():
    with publishing() as (srv, token):
        r = curl(["-H", f"Authorization: Bearer {token}", "-F", f"firmware=@{image()}", "-F", "version=1.0.0",
                  srv.url("/api/v1/products/door/releases")])
        assert r.status == 400, f"multipart without an 'image' field: {r.describe()}"
        assert srv.releases("door", token) == [], "stored without an image field"


def test_version_with_line_break_is_400():
    # The version goes out as the x-version header: a CR/LF in it would inject headers.
    with publishing() as (srv, token):
        for version in ("1.0\r\nX-Evil: 1", "1.0\nX"):
            r = curl_publish(srv, "door", image(), token, version=version)
            assert r.status == 400, f"version {version!r}: {r.describe()}"
        assert srv.releases("door", token) == [], "a version with a line break was stored"


def test_nul_in_query_value_is_400_not_truncated():
    # ?version=1.0%00x must not be stored as "1.0" (nor ?channel=be%00ta as "be").
    with publishing() as (srv, token):
        results = []
        for query in ("version=1.0%00x", "version=1.0.0&channel=be%00ta"):
            r = curl(["-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/octet-stream",
                      "--data-binary", f"@{image()}", srv.url(f"/api/v1/products/door/releases?{query}")])
            results.append((query, r))
        stored = [(x["version"], x["channel"]) for x in srv.releases("door", token)]
        assert stored == [], f"NUL-truncated values were stored: {stored} ({[(q, r.status) for q, r in results]})"
        for query, r in results:
            assert r.status == 400, f"?{query}: {r.describe()}"
            # An API error, so in the API's JSON shape.
            assert r.json().get("error", {}).get("code") == "bad_request", f"?{query}: {r.describe()}"


def test_multipart_binary_with_boundary_like_bytes():
    # The file part holds CRLF, "--" and dash runs like those in curl's boundary.
    rnd = random.Random(5)
    pieces = []
    for _ in range(2000):
        pieces.append(rnd.randbytes(rnd.randrange(0, 600)))
        pieces.append(rnd.choice([b"\r\n--", b"\r\n-", b"\r\n------------------------", b"--\r\n", b"\r\n\r\n"]))
    blob = scratch_file("boundary-like.bin", b"".join(pieces))
    with publishing() as (srv, token):
        r = curl_publish(srv, "door", blob, token, version="1.0.0", mode="fs", multipart=True)
        assert r.status == 201, r.describe()
        assert r.json()["release"]["sha256"] == sha256_hex(blob.read_bytes()), "multipart body altered in transit"


def test_multipart_with_two_image_fields_is_400():
    # Two files in one upload is ambiguous: refuse it rather than store something else.
    a, b = image(seed=41, size=64_000), image(seed=42, size=64_000)
    with publishing() as (srv, token):
        r = curl(["-H", f"Authorization: Bearer {token}", "-F", f"image=@{a}", "-F", f"image=@{b}",
                  "-F", "version=1.0.0", srv.url("/api/v1/products/door/releases")])
        stored = [(x["version"], x["size"]) for x in srv.releases("door", token)]
        assert r.status == 400, f"multipart with two 'image' parts: {r.describe()}; stored {stored}"
        assert stored == [], f"stored {stored}"


def test_publish_to_unknown_product_is_404():
    with publishing() as (srv, token):
        r = curl(["-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/octet-stream",
                  "--data-binary", f"@{image()}", srv.url("/api/v1/products/nosuch/releases?version=1.0.0")])
        assert r.status == 404, r.describe()
        assert r.json()["error"]["code"] == "not_found", r.describe()


# -- Validation: nothing invalid is stored


def assert_rejected_image(srv, token, path, what):
    r = curl_publish(srv, "door", path, token, version="9.9.9")
    assert r.status == 422, f"{what}: {r.describe()}"
    err = r.json()["error"]
    assert err["code"] == "image_invalid", f"{what}: {r.describe()}"
    assert err.get("message"), f"{what}: 422 without a message saying what is wrong"
    assert srv.releases("door", token) == [], f"{what}: a rejected image was stored"


def test_non_image_is_422_and_not_stored():
    bad = scratch_file("elf.bin", b"\x7fELF" + make_blob(50_000, seed=6).read_bytes()[4:])
    with publishing() as (srv, token):
        assert_rejected_image(srv, token, bad, "an ELF file")


def test_truncated_image_is_422_and_not_stored():
    # The header promises segments that the data does not hold.
    full = image(seed=7, size=120_000).read_bytes()
    cut = scratch_file("truncated.bin", full[:600])
    with publishing() as (srv, token):
        assert_rejected_image(srv, token, cut, "an image cut at 600 bytes")


def test_cli_release_add_rejects_bad_image():
    bad = scratch_file("zeros.bin", bytes(50_000))
    with Server() as srv:
        srv.add_product("door", "esp8266")
        r = srv.cli("release", "add", "door", str(bad), "--version", "1.0.0")
        assert r.code == 1, f"release add of zeros must fail with exit 1: {r.describe()}"
        listed = json_list(srv.cli_ok("release", "list", "door", "--json").json(), "releases")
        assert listed == [], f"the CLI stored a rejected image: {listed}"


def test_upload_over_limit_is_413():
    big = image(seed=8, size=200_000)
    with publishing(args=["--max-upload-bytes", "65536"]) as (srv, token):
        r = curl_publish(srv, "door", big, token, version="1.0.0")
        assert r.status == 413, f"200 KB upload with --max-upload-bytes 65536: {r.describe()}"
        assert srv.releases("door", token) == [], "an oversized upload was stored"
        small = image(seed=9, size=32_000)
        assert curl_publish(srv, "door", small, token, version="1.0.1").status == 201, \
            "an upload under the limit must still work after a 413"


def test_gzip_image_for_esp32_is_422():
    # ESP32 HTTPUpdate requires the first byte 0xE9 (§4); gzip is an ESP8266 feature.
    gz = make_image("esp32", 64_000, seed=12, gzip=True)
    with publishing(platform="esp32") as (srv, token):
        assert_rejected_image(srv, token, gz, "a gzip image for an esp32 product")


def test_chunked_upload_over_limit_is_refused():
    # Without a Content-Length the cap must still hold while the body streams in.
    big = image(seed=8, size=200_000)
    with publishing(args=["--max-upload-bytes", "65536"]) as (srv, token):
        r = curl_publish(srv, "door", big, token, version="1.0.0", extra=["-H", "Transfer-Encoding: chunked"])
        assert r.status == 411, f"chunked 200 KB upload (chunked bodies are refused): {r.describe()}"
        assert srv.releases("door", token) == [], "a chunked oversized upload was stored"


def test_raw_upload_over_limit_without_expect_is_413():
    # A client that sends the whole body without waiting for 100-continue still gets its 413.
    body = image(seed=8, size=200_000).read_bytes()
    with publishing(args=["--max-upload-bytes", "65536"]) as (srv, token):
        r = srv.api("POST", "/api/v1/products/door/releases?version=1.0.0", token, body=body,
                    headers=[("Content-Type", "application/octet-stream")])
        assert_api_error(r, 413, "too_large", "raw 200 KB POST with a 64 KiB cap")


def test_releases_of_unknown_product_is_404():
    with publishing() as (srv, token):
        assert_api_error(srv.api("GET", "/api/v1/products/nosuch/releases", token), 404, "not_found",
                         "GET releases of an unknown product")


def test_devices_of_unknown_product_is_404():
    with publishing() as (srv, token):
        assert_api_error(srv.api("GET", "/api/v1/products/nosuch/devices", token), 404, "not_found",
                         "GET devices of an unknown product")


# -- Tokens and scopes


def test_missing_token_is_401_with_challenge():
    with publishing() as (srv, _):
        r = curl_publish(srv, "door", image(), None, version="1.0.0")
        assert r.status == 401, r.describe()
        assert (r.header("www-authenticate") or "").startswith("Bearer"), f"WWW-Authenticate: {r.headers_raw!r}"
        assert r.json()["error"]["code"] == "unauthorized", r.describe()


def test_wrong_token_is_401():
    with publishing() as (srv, _):
        r = curl_publish(srv, "door", image(), "otad_" + "0" * 64, version="1.0.0")
        assert r.status == 401, r.describe()
        assert (r.header("www-authenticate") or "").startswith("Bearer"), f"WWW-Authenticate: {r.headers_raw!r}"


def test_revoked_token_is_401():
    with publishing() as (srv, admin):
        token = srv.token("publish", name="to-revoke")
        assert curl_publish(srv, "door", image(seed=1), token, version="1.0.0").status == 201
        listed = srv.cli_ok("token", "list", "--json").json()
        entries = json_list(listed, "tokens")
        ids = [t["id"] for t in entries if t.get("name") == "to-revoke"]
        assert len(ids) == 1, f"token list --json must show the token once: {listed}"
        assert token not in srv.cli_ok("token", "list", "--json").stdout, "token list prints the secret"
        srv.cli_ok("token", "revoke", str(ids[0]))
        r = curl_publish(srv, "door", image(seed=2), token, version="1.1.0")
        assert r.status == 401, f"revoked token: {r.describe()}"


def test_read_token_cannot_publish():
    with publishing() as (srv, _):
        token = srv.token("read")
        r = curl_publish(srv, "door", image(), token, version="1.0.0")
        assert r.status == 403, f"read-scope publish: {r.describe()}"
        assert r.json()["error"]["code"] == "forbidden", r.describe()


def test_bearer_scheme_is_case_insensitive():
    # RFC 9110 §11.1: the auth scheme is case-insensitive.
    with publishing() as (srv, token):
        r = srv.api("GET", "/api/v1/products", headers=[("Authorization", f"bearer {token}")])
        assert_status(r, 200, "Authorization: bearer <token>")


def test_read_token_can_list_releases():
    with publishing() as (srv, _):
        token = srv.token("read")
        assert_status(srv.api("GET", "/api/v1/products/door/releases", token), 200, "read token GET releases")


def test_publish_token_cannot_create_products():
    with publishing() as (srv, _):
        token = srv.token("publish")
        r = srv.api("POST", "/api/v1/products", token, json_body={"name": "x", "platform": "esp8266"})
        assert_api_error(r, 403, "forbidden", "publish token POST /products")


def test_api_get_without_token_is_401():
    with publishing() as (srv, _):
        r = srv.api("GET", "/api/v1/products")
        assert_api_error(r, 401, "unauthorized", "GET /api/v1/products without a token")
        assert (r.header("www-authenticate") or "").startswith("Bearer"), r.describe()


# -- Products


def test_create_product_via_api():
    with publishing() as (srv, token):
        r = srv.api("POST", "/api/v1/products", token,
                    json_body={"name": "emonesp", "platform": "esp8266", "default_channel": "stable"})
        assert_status(r, 201, "POST /api/v1/products")
        prod = r.json()["product"]
        assert (prod["name"], prod["platform"], prod["default_channel"]) == ("emonesp", "esp8266", "stable"), prod
        assert prod.get("created"), f"product without 'created': {prod}"
        got = srv.api("GET", "/api/v1/products/emonesp", token)
        assert_status(got, 200, "GET the new product")
        assert got.json()["product"]["name"] == "emonesp", got.describe()
        names = [p["name"] for p in srv.api("GET", "/api/v1/products", token).json()["products"]]
        assert sorted(names) == ["door", "emonesp"], f"product list: {names}"


def test_create_existing_product_is_409():
    with publishing() as (srv, token):
        r = srv.api("POST", "/api/v1/products", token, json_body={"name": "door", "platform": "esp8266"})
        assert_api_error(r, 409, "conflict", "POST an existing product")


def test_create_product_with_bad_name_is_400():
    with publishing() as (srv, token):
        for name in ("Door", "-door", "", "a" * 65, "do or"):
            r = srv.api("POST", "/api/v1/products", token, json_body={"name": name, "platform": "esp8266"})
            assert_api_error(r, 400, "bad_request", f"product name {name!r}")


def test_create_product_with_bad_platform_is_400():
    with publishing() as (srv, token):
        r = srv.api("POST", "/api/v1/products", token, json_body={"name": "x", "platform": "avr"})
        assert_api_error(r, 400, "bad_request", "platform avr")


def test_create_product_with_bad_json_is_400():
    with publishing() as (srv, token):
        r = srv.api("POST", "/api/v1/products", token, body=b'{"name": "x", ', headers=[("Content-Type", "application/json")])
        assert_api_error(r, 400, "bad_request", "truncated JSON")


def test_unknown_product_is_404():
    with publishing() as (srv, token):
        assert_api_error(srv.api("GET", "/api/v1/products/nosuch", token), 404, "not_found", "GET unknown product")


def test_wrong_method_is_405():
    with publishing() as (srv, token):
        r = srv.api("PUT", "/api/v1/products", token, json_body={})
        assert_api_error(r, 405, "method_not_allowed", "PUT /api/v1/products")


def test_api_rejections_before_routing_are_json():
    # Under /api/v1 every error has the JSON shape, also those decided before the handler runs.
    with publishing() as (srv, token):
        long_query = srv.api("GET", "/api/v1/products?x=" + "a" * 3000, token)
        assert_api_error(long_query, 414, "uri_too_long", "3 KB API query")
        many = srv.api("GET", "/api/v1/products", token, headers=[(f"X-{i}", "v") for i in range(70)])
        assert_api_error(many, 431, "headers_too_large", "70 headers on an API call")


def test_healthz():
    with Server() as srv:
        srv.start()
        r = srv.get("/healthz")
        assert_status(r, 200, "/healthz")
        assert (r.header("content-type") or "").startswith("text/plain"), r.describe()
        assert r.body.strip() == b"ok", r.describe()
