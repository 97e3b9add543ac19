"""Dashboard sign-in (docs/API.md "Dashboard sessions", docs/SECURITY.md "Dashboard
sign-in"): an API token traded for a session cookie, the cookie as a token on every
/api/v1/ route, the CSRF header and the origin check on changes, expiry and
revocation, the sign-in guard, the security headers on every answer but a device's,
and ETag / If-None-Match on the API's JSON. Raw sockets and curl, no browser."""

import json
import os
import re
import time

import tlsutil
from devices import Device, esp8266
from harness import (HOST, Server, assert_api_error, assert_status, curl, http_request,
                     make_image, run_otad)
from tlsutil import SERVER_NAME

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer", "x-frame-options": "DENY"}
# What each device answer of _device_answers carries (its Date removed), as main sends it.
DEVICE_HEADER_NAMES = [
    ["Connection", "Content-Type", "x-MD5", "x-version", "Content-Length"],
    ["Connection", "Content-Length"],
    ["Connection", "Content-Type", "Content-Length"],
    ["Connection", "Content-Type", "Accept-Ranges", "ETag", "x-MD5", "Content-Length"],
    ["Connection", "Content-Type", "Content-Length"],
]
COOKIE_RE = re.compile(r"^otad_session=([A-Za-z0-9_-]{43})(; .*)$")


def sign_in(srv, token, headers=()):
    return srv.api("POST", "/api/v1/session", json_body={"token": token}, headers=headers)


def session_of(resp):
    """The cookie value and the CSRF token of a 201 sign-in."""
    assert_status(resp, 201, "sign-in")
    m = COOKIE_RE.match(resp.header("Set-Cookie") or "")
    assert m, f"Set-Cookie: {resp.header('Set-Cookie')!r}"
    return m.group(1), resp.json()["session"]["csrf"]


def with_cookie(srv, method, path, cookie, *, csrf=None, json_body=None, headers=()):
    hdrs = [("Cookie", f"theme=dark; otad_session={cookie}")] + list(headers)
    if csrf is not None:
        hdrs.append(("X-CSRF-Token", csrf))
    return srv.api(method, path, json_body=json_body, headers=hdrs)


def test_sign_in_sets_the_cookie_exactly_and_the_cookie_reads():
    with Server() as srv:
        srv.add_product("demo")
        token = srv.token("admin", name="ops")
        srv.start()
        r = sign_in(srv, token)
        assert_status(r, 201)
        m = COOKIE_RE.match(r.header("Set-Cookie"))
        assert m and m.group(2) == "; Path=/; HttpOnly; SameSite=Strict", r.header("Set-Cookie")
        s = r.json()["session"]
        assert set(s) == {"token_name", "scope", "expires", "csrf"}, s
        assert s["token_name"] == "ops" and s["scope"] == "admin", s
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", s["expires"]), s
        assert re.match(r"^[A-Za-z0-9_-]{43}$", s["csrf"]) and s["csrf"] != m.group(1), s
        cookie = m.group(1)
        # The cookie is a read token: the products list and the session itself.
        r = with_cookie(srv, "GET", "/api/v1/products", cookie)
        assert_status(r, 200, "products with the cookie")
        assert [p["name"] for p in r.json()["products"]] == ["demo"]
        r = with_cookie(srv, "GET", "/api/v1/session", cookie)
        assert_status(r, 200, "GET session")
        assert r.json()["session"]["csrf"] == s["csrf"] and r.json()["session"]["token_name"] == "ops"
        # No cookie, a made-up one, a bad token: 401.
        assert_api_error(srv.api("GET", "/api/v1/session"), 401, "unauthorized")
        assert_api_error(with_cookie(srv, "GET", "/api/v1/products", "A" * 43), 401, "unauthorized")
        assert_api_error(sign_in(srv, "otad_" + "0" * 64), 401, "bad_token")
        assert_api_error(sign_in(srv, "not a token"), 401, "bad_token")
        assert_api_error(srv.api("POST", "/api/v1/session", body=b"{\"tok"), 400, "bad_request")
        # The cookie is stored only as its hash.
        db = srv.database_bytes()
        assert cookie.encode() not in db and s["csrf"].encode() not in db


def test_changes_need_the_csrf_header_and_a_same_origin():
    with Server() as srv:
        srv.add_product("demo")
        token = srv.token("admin")
        srv.start()
        cookie, csrf = session_of(sign_in(srv, token))
        group = {"name": "lab", "channel": "beta", "macs": ["18:FE:34:00:00:07"]}
        assert_api_error(with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie,
                                     json_body=group), 403, "csrf")
        assert_api_error(with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie,
                                     csrf="x" * 43, json_body=group), 403, "csrf")
        # Another session's CSRF token is not this one's.
        _, other_csrf = session_of(sign_in(srv, token))
        assert_api_error(with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie,
                                     csrf=other_csrf, json_body=group), 403, "csrf")
        # The right header but from another site (Origin, or Sec-Fetch-Site).
        assert_api_error(with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie, csrf=csrf,
                                     json_body=group, headers=[("Origin", "http://evil.example")]),
                         403, "csrf")
        assert_api_error(with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie, csrf=csrf,
                                     json_body=group, headers=[("Sec-Fetch-Site", "cross-site")]),
                         403, "csrf")
        r = srv.api("GET", "/api/v1/products/demo/groups", token)
        assert r.json()["groups"] == [], r.describe()
        # Same origin (the harness's Host has no port), the session's header: it happens.
        r = with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie, csrf=csrf,
                        json_body=group, headers=[("Origin", f"http://{HOST}"),
                                                  ("Sec-Fetch-Site", "same-origin")])
        assert_status(r, 201, "group added from the dashboard")
        # A bearer token needs no CSRF header (not ambient).
        r = srv.api("POST", "/api/v1/products/demo/groups", token, json_body={**group, "name": "field"})
        assert_status(r, 201, "bearer")


def test_a_cross_site_form_post_is_refused_and_changes_nothing():
    with Server() as srv:
        srv.add_product("demo")
        token = srv.token("admin")
        srv.start()
        cookie, _ = session_of(sign_in(srv, token))
        body = b"name=evil"
        for path in ("/api/v1/products/demo/groups", "/api/v1/products"):
            r = srv.send(http_request("POST", path, body=body, headers=[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", "http://evil.example"), ("Cookie", f"otad_session={cookie}")]))
            assert_api_error(r, 403, "csrf", f"cross-site form post to {path}")
        assert srv.api("GET", "/api/v1/products/demo/groups", token).json()["groups"] == []
        assert [p["name"] for p in srv.api("GET", "/api/v1/products", token).json()["products"]] \
            == ["demo"]
        # Sign-in itself from another site is refused too (login CSRF).
        assert_api_error(sign_in(srv, token, headers=[("Origin", "http://evil.example")]), 403, "csrf")


def test_a_read_token_session_cannot_change_anything():
    with Server() as srv:
        srv.add_product("demo")
        token = srv.token("read", name="viewer")
        srv.start()
        r = sign_in(srv, token)
        cookie, csrf = session_of(r)
        assert r.json()["session"]["scope"] == "read"
        assert_status(with_cookie(srv, "GET", "/api/v1/products/demo/groups", cookie), 200)
        assert_api_error(with_cookie(srv, "POST", "/api/v1/products/demo/groups", cookie, csrf=csrf,
                                     json_body={"name": "lab", "channel": "beta", "macs": []}),
                         403, "forbidden")
        assert_api_error(with_cookie(srv, "GET", "/api/v1/sessions", cookie), 403, "forbidden")


def test_sign_out_ends_the_session():
    with Server() as srv:
        token = srv.token("admin")
        srv.start()
        cookie, csrf = session_of(sign_in(srv, token))
        # Sign-out is a change: the CSRF header is needed.
        assert_api_error(with_cookie(srv, "DELETE", "/api/v1/session", cookie), 403, "csrf")
        r = with_cookie(srv, "DELETE", "/api/v1/session", cookie, csrf=csrf)
        assert_status(r, 204, "sign-out")
        assert r.header("Set-Cookie") == \
            "otad_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", r.header("Set-Cookie")
        assert_api_error(with_cookie(srv, "GET", "/api/v1/session", cookie), 401, "unauthorized")
        assert_api_error(with_cookie(srv, "GET", "/api/v1/products", cookie), 401, "unauthorized")


def test_sessions_expire_idle_and_absolute():
    with Server(args=["--session-idle-s", "2", "--session-max-s", "4"]) as srv:
        token = srv.token("admin")
        srv.start()
        # Idle: unused for 2 s.
        cookie, _ = session_of(sign_in(srv, token))
        assert_status(with_cookie(srv, "GET", "/api/v1/session", cookie), 200)
        time.sleep(2.3)
        assert_api_error(with_cookie(srv, "GET", "/api/v1/session", cookie), 401, "unauthorized")
        # Absolute: used every 0.8 s, still ends 4 s after sign-in.
        cookie, _ = session_of(sign_in(srv, token))
        start = time.monotonic()
        while time.monotonic() - start < 3.4:
            assert_status(with_cookie(srv, "GET", "/api/v1/session", cookie), 200, "kept alive")
            time.sleep(0.8)
        time.sleep(max(0.0, 4.3 - (time.monotonic() - start)))
        assert_api_error(with_cookie(srv, "GET", "/api/v1/session", cookie), 401, "unauthorized")


def test_revoking_the_token_ends_its_sessions():
    with Server() as srv:
        token = srv.token("admin", name="soon-gone")
        other = srv.token("admin", name="stays")
        srv.start()
        cookie, _ = session_of(sign_in(srv, token))
        kept, _ = session_of(sign_in(srv, other))
        ids = {t["name"]: t["id"] for t in srv.cli_ok("token", "list", "--json").json()["tokens"]}
        srv.cli_ok("token", "revoke", str(ids["soon-gone"]))
        assert_api_error(with_cookie(srv, "GET", "/api/v1/products", cookie), 401, "unauthorized")
        assert_status(with_cookie(srv, "GET", "/api/v1/products", kept), 200)
        assert_api_error(sign_in(srv, token), 401, "bad_token")


def test_admin_lists_and_revokes_sessions_api_and_cli():
    with Server() as srv:
        admin = srv.token("admin", name="admin")
        viewer = srv.token("read", name="viewer")
        srv.start()
        cookie, _ = session_of(sign_in(srv, viewer, headers=[("User-Agent", "Firefox/128")]))
        r = srv.api("GET", "/api/v1/sessions", admin)
        assert_status(r, 200)
        (s,) = r.json()["sessions"]
        assert s["token_name"] == "viewer" and s["scope"] == "read" and s["address"] == HOST, s
        assert s["user_agent"] == "Firefox/128" and s["created"] and s["last_used"], s
        assert cookie not in r.text, "the list must never show the cookie"
        assert_status(srv.api("DELETE", f"/api/v1/sessions/{s['id']}", admin), 204)
        assert_api_error(with_cookie(srv, "GET", "/api/v1/products", cookie), 401, "unauthorized")
        assert_api_error(srv.api("DELETE", f"/api/v1/sessions/{s['id']}", admin), 404, "not_found")
        # The CLI: list and revoke.
        cookie, _ = session_of(sign_in(srv, viewer))
        listed = srv.cli_ok("session", "list", "--json").json()["sessions"]
        assert [x["token_name"] for x in listed] == ["viewer"], listed
        text = srv.cli_ok("session", "list").stdout
        assert "viewer" in text and cookie not in text, text
        srv.cli_ok("session", "revoke", str(listed[0]["id"]))
        assert_api_error(with_cookie(srv, "GET", "/api/v1/products", cookie), 401, "unauthorized")
        r = srv.cli("session", "revoke", str(listed[0]["id"]))
        assert r.code != 0 and "no session" in r.stderr, r.describe()


def test_live_sessions_per_token_are_bounded():
    with Server() as srv:
        token = srv.token("admin")
        srv.start()
        cookies = [session_of(sign_in(srv, token))[0] for _ in range(17)]
        assert_api_error(with_cookie(srv, "GET", "/api/v1/products", cookies[0]), 401, "unauthorized")
        for c in cookies[1:]:
            assert_status(with_cookie(srv, "GET", "/api/v1/products", c), 200)
        assert len(srv.api("GET", "/api/v1/sessions", token).json()["sessions"]) == 16


def test_bad_sign_ins_are_rate_limited_per_address():
    with Server() as srv:
        token = srv.token("admin")
        srv.start()
        for i in range(10):
            assert_api_error(sign_in(srv, f"otad_{i:064x}"), 401, "bad_token", f"attempt {i + 1}")
        r = sign_in(srv, f"otad_{99:064x}")
        assert_api_error(r, 429, "too_many_attempts")
        assert r.header("Retry-After") == "60"
        # Even the right token is refused now: the form answers nothing about tokens.
        assert_api_error(sign_in(srv, token), 429, "too_many_attempts")
        # Bearer tokens are not the form: unaffected.
        assert_status(srv.api("GET", "/api/v1/products", token), 200)


def test_security_headers_on_every_ui_and_api_answer_none_on_device_answers():
    with Server() as srv:
        srv.add_product("demo")
        srv.add_release("demo", make_image("esp8266", 50_000, seed=3, flash_size="4M"), "1.0.0")
        token = srv.token("admin")
        srv.start()
        answers = {
            "API 200": srv.api("GET", "/api/v1/products", token),
            "API 401": srv.api("GET", "/api/v1/products"),
            "API 404": srv.api("GET", "/api/v1/nothing", token),
            "sign-in 201": sign_in(srv, token),
            "sign-in 401": sign_in(srv, "otad_" + "1" * 64),
            "root": srv.get("/"),
            "healthz": srv.get("/healthz"),
        }
        for what, r in answers.items():
            for name, value in SECURITY.items():
                assert r.header(name) == value, f"{what}: {name}: {r.header(name)!r}"
        dev = Device(version="0.9.0", sketch_md5="0" * 32, free_space=8 * 1024 * 1024)
        devices = {
            "check-in 200": srv.send(esp8266("/update/demo", srv.port, dev)),
            "check-in 304": srv.send(esp8266("/update/demo", srv.port,
                                             Device(version="1.0.0", sketch_md5="0" * 32))),
            "check-in 404": srv.send(esp8266("/update/nothing", srv.port, dev)),
            "image": srv.get("/images/demo/1.0.0"),
            "image 404": srv.get("/images/demo/9.9.9"),
        }
        assert devices["check-in 200"].status == 200 and devices["check-in 304"].status == 304
        for what, r in devices.items():
            present = [n for n, _ in r.headers if n.lower() in SECURITY]
            assert not present, f"{what}: a device answer must not carry {present}"
            assert r.header("Set-Cookie") is None, what


def _device_answers(port):
    dev = Device(version="0.9.0", sketch_md5="0" * 32, free_space=8 * 1024 * 1024)
    from harness import exchange
    out = []
    for req in (esp8266("/update/demo", port, dev),
                esp8266("/update/demo", port, Device(version="1.0.0", sketch_md5="0" * 32)),
                esp8266("/update/nothing", port, dev),
                http_request("GET", "/images/demo/1.0.0"), http_request("GET", "/images/demo/9.9.9")):
        raw = exchange(port, req).raw
        # The Date header is the only byte that may differ between two runs.
        out.append(re.sub(rb"\r\nDate: [^\r]*", b"", raw))
    return out


def test_device_answers_are_byte_for_byte_those_of_a_reference_otad():
    """With $OTAD_E2E_REFERENCE_OTAD (an otad built from main), every device answer's bytes
    must equal that binary's, the Date header aside. Without it, each answer's header names
    must be exactly those the device path has always sent (docs/PROTOCOL.md)."""
    image = make_image("esp8266", 50_000, seed=4, flash_size="4M")
    reference = os.environ.get("OTAD_E2E_REFERENCE_OTAD")
    runs = []
    for binary in [None] + ([reference] if reference else []):
        old = os.environ.get("OTAD_BIN")
        if binary:
            os.environ["OTAD_BIN"] = binary
        try:
            with Server() as srv:
                srv.add_product("demo")
                srv.add_release("demo", image, "1.0.0")
                srv.start()
                runs.append(_device_answers(srv.port))
        finally:
            if binary:
                if old is None:
                    del os.environ["OTAD_BIN"]
                else:
                    os.environ["OTAD_BIN"] = old
    if reference:
        assert runs[0] == runs[1], [(a[:400], b[:400]) for a, b in zip(*runs) if a != b]
        return
    names = [[line.split(b":")[0].decode() for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]]
             for raw in runs[0]]
    assert names == DEVICE_HEADER_NAMES, names


def test_etag_and_if_none_match():
    with Server() as srv:
        srv.add_product("demo")
        token = srv.token("read")
        srv.start()
        r = srv.api("GET", "/api/v1/products", token)
        etag = r.header("ETag")
        assert etag and re.match(r'^"[0-9a-f]{64}"$', etag), r.describe()
        assert r.header("Cache-Control") == "private, no-cache"
        again = srv.api("GET", "/api/v1/products", token, headers=[("If-None-Match", etag)])
        assert_status(again, 304, "unchanged")
        assert again.body == b"" and again.header("ETag") == etag, again.describe()
        assert again.header("Content-Security-Policy") == CSP
        listed = srv.api("GET", "/api/v1/products", token,
                         headers=[("If-None-Match", f'"nope", W/{etag}')])
        assert_status(listed, 304, "weak form in a list")
        # A change: a new ETag and a 200 for the old one.
        srv.add_product("other")
        r2 = srv.api("GET", "/api/v1/products", token, headers=[("If-None-Match", etag)])
        assert_status(r2, 200, "changed")
        assert r2.header("ETag") != etag and len(r2.json()["products"]) == 2
        # With the cookie too, and HEAD.
        cookie, _ = session_of(sign_in(srv, token))
        r3 = with_cookie(srv, "GET", "/api/v1/products", cookie,
                         headers=[("If-None-Match", r2.header("ETag"))])
        assert_status(r3, 304, "cookie")
        # Errors and non-GETs carry none.
        assert srv.api("GET", "/api/v1/products/nothing", token).header("ETag") is None


def test_over_https_the_cookie_is_secure():
    with Server() as srv:
        token = srv.token("admin")
        ca = tlsutil.make_ca(srv.tmp / "ca")
        tlsutil.install_default(srv.data_dir, ca)
        srv.start(["--listen-tls", f"{HOST}:0"])
        url = f"https://{SERVER_NAME}:{srv.tls_port}/api/v1/session"
        r = curl(["--cacert", str(ca[0]), "--resolve", f"{SERVER_NAME}:{srv.tls_port}:{HOST}",
                  "-H", "Content-Type: application/json", "--data", json.dumps({"token": token}),
                  url])
        assert r.status == 201, r.describe()
        cookie = r.header("Set-Cookie")
        m = COOKIE_RE.match(cookie or "")
        assert m and m.group(2) == "; Path=/; HttpOnly; SameSite=Strict; Secure", cookie
        assert r.header("Content-Security-Policy") == CSP
        r = curl(["--cacert", str(ca[0]), "--resolve", f"{SERVER_NAME}:{srv.tls_port}:{HOST}",
                  "-H", f"Cookie: otad_session={m.group(1)}", url])
        assert r.status == 200 and r.json()["session"]["scope"] == "admin", r.describe()
        # The plain listener's cookie has no Secure.
        r = sign_in(srv, token)
        assert r.header("Set-Cookie").endswith("SameSite=Strict"), r.header("Set-Cookie")
