"""Outgoing notifications against the real daemon (docs/NOTIFICATIONS.md).

A receiver is a small HTTP server on 127.0.0.1 in the test (Receiver below):
it records every POST (headers and exact body), answers from a script of
statuses, or accepts and never answers (hangs) until the test lets it go.
Events are driven for real: a rollout halted by devices that fail it (raw
ESP8266 check-ins, as test_fleet.py does), a publish through the API, a
GitHub source failing against fake_github.py. Every JSON delivery is
verified against its HMAC here, as a receiver would."""

import hashlib
import hmac
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devices import Device, esp8266, mac
from fake_github import FakeGitHub
from harness import HOST, Server, assert_api_error, curl_publish, make_image, md5_hex, wait_until

SECRET = "notify secret: it's a secret to everybody"
# Short retries for the tests: 100 ms, 300 ms, 600 ms ...
FAST = ["--notify-retry-ms", "100"]


class Receiver:
    """An HTTP receiver on 127.0.0.1: records POSTs, answers STATUSES in order (then 200),
    or, while `hang` is set, reads the request and answers nothing until release()."""

    def __init__(self, statuses=(), hang=False, port=0):
        self.requests = []  # (headers dict lowercased, body bytes), in arrival order
        self.statuses = list(statuses)
        self.hang = hang
        self.accepted = 0  # requests read (hung ones included)
        self._lock = threading.Lock()
        self._release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.accepted += 1
                    hang = outer.hang
                if hang:
                    outer._release.wait(60)
                    return  # the connection is closed without an answer
                with outer._lock:
                    outer.requests.append((headers, body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer((HOST, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return f"http://{HOST}:{self.port}/hook/secret-path"

    def release(self):
        with self._lock:
            self.hang = False
        self._release.set()

    def close(self):
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def bodies(self, event=None):
        with self._lock:
            got = list(self.requests)
        out = []
        for headers, body in got:
            if event is None or headers.get("x-otad-event") == event:
                out.append((headers, body))
        return out

    def wait_event(self, event, count=1, timeout=15):
        return wait_until(lambda: len(self.bodies(event)) >= count and self.bodies(event), timeout,
                          0.05, f"{count} {event} delivery(ies) at the receiver")


def verified_json(headers, body, secret=SECRET):
    """The body of a signed JSON delivery, after checking every header a receiver relies on."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    got = headers.get("x-otad-signature-256", "")
    assert hmac.compare_digest(expected, got), f"signature {got!r}, expected {expected!r}"
    assert headers.get("content-type") == "application/json", headers
    assert headers.get("user-agent", "").startswith("otad/"), headers
    doc = json.loads(body)
    assert doc["id"] == headers.get("x-otad-delivery"), (doc, headers)
    assert doc["event"] == headers.get("x-otad-event"), (doc, headers)
    assert len(doc["id"]) == 36 and doc["at"].endswith("Z"), doc
    return doc


def add_receiver(srv, token, name, url, events, fmt=None, secret=SECRET):
    body = {"name": name, "url": url, "events": events}
    if fmt:
        body["format"] = fmt
    if secret:
        body["secret"] = secret
    r = srv.api("POST", "/api/v1/notifications", token, json_body=body)
    assert r.status == 201, r.describe()
    rec = r.json()["receiver"]
    assert "secret" not in json.dumps(rec) or secret is None, rec
    assert secret is None or SECRET not in r.text, "the secret must never be shown again"
    return rec["id"]


def deliveries(srv, token, rid):
    r = srv.api("GET", f"/api/v1/notifications/{rid}/deliveries", token)
    assert r.status == 200, r.describe()
    return r.json()["deliveries"]


def image(seed, size=60_000):
    return make_image("esp8266", size, seed=seed, flash_size="4M")


def device(n, version="1.0.0"):
    return Device(sta_mac=mac(n), version=version, sketch_md5=md5_hex(f"old-{n}".encode()),
                  free_space=8 * 1024 * 1024)


def test_halted_rollout_and_publish_arrive_signed():
    """A publish through the API and a rollout halted by real failures reach the receiver,
    signed; the halt carries its reason and the stage's counters."""
    with Receiver() as rx, Server(args=FAST) as srv:
        srv.add_product("demo")
        srv.add_release("demo", image(1), "1.0.0")
        srv.cli_ok("channel", "set", "demo", "stable", "--deploy", "rollout", "--stages", "100",
                   "--ramp", "0", "--fail-max", "3", "--soak", "1d")
        admin, read = srv.token("admin"), srv.token("read")
        srv.start()
        rid = add_receiver(srv, admin, "ops", rx.url, ["rollout.*", "release.published"])
        new = image(2)
        r = curl_publish(srv, "demo", new, admin, version="1.1.0")
        assert r.status == 201, r.describe()
        headers, body = rx.wait_event("release.published")[0]
        doc = verified_json(headers, body)
        assert doc["product"] == "demo", doc
        d = doc["data"]
        assert d["version"] == "1.1.0" and d["channel"] == "stable" and d["source"] == "upload", d
        assert d["forms"] and "plain" in d["forms"], d

        # Devices take 1.1.0 and come back on 1.0.0: three failures halt the rollout.
        served = 0
        for n in range(8):
            resp = srv.send(esp8266("/update/demo", srv.port, device(n)), timeout=30)
            if resp.status == 200:
                served += 1
                back = srv.send(esp8266("/update/demo", srv.port, device(n)))
                assert back.status == 304, back.describe()
        assert served >= 3, f"only {served} devices were offered 1.1.0"
        headers, body = rx.wait_event("rollout.halted", timeout=20)[0]
        doc = verified_json(headers, body)
        d = doc["data"]
        assert doc["product"] == "demo" and d["version"] == "1.1.0" and d["stage"] == 1, doc
        assert d["counters"]["failed"] >= 3 and d["counters"]["offered"] >= d["counters"]["failed"], d
        assert "3" in d["reason"], d
        rollouts = srv.api("GET", "/api/v1/products/demo/rollouts", read).json()["rollouts"]
        assert any(ro["id"] == d["rollout"] and ro["state"] == "halted" for ro in rollouts), rollouts

        # The receiver's list shows its last delivery; a read token sees no secret.
        def listed_delivered():
            listed = srv.api("GET", "/api/v1/notifications", read)
            assert listed.status == 200 and SECRET not in listed.text, listed.describe()
            rec = listed.json()["receivers"][0]
            return rec if rec["last_delivery"]["state"] == "delivered" else None
        rec = wait_until(listed_delivered, what="the last delivery marked delivered")
        assert rec["signed"] is True and rec["url"] == f"http://{HOST}:{rx.port}/...", rec
        assert rec["last_delivery"]["status"] == 200, rec
        events = [x["event"] for x in deliveries(srv, read, rid)]
        assert events[0] == "rollout.halted" and "release.published" in events, events


def test_slack_form_and_ping():
    with Receiver() as rx, Server(args=FAST) as srv:
        srv.add_product("demo")
        admin = srv.token("admin")
        srv.start()
        rid = add_receiver(srv, admin, "team", rx.url, ["release.*"], fmt="slack", secret=None)
        r = srv.api("POST", f"/api/v1/notifications/{rid}/test", admin)
        assert r.status == 202 and r.json()["delivery"]["event"] == "ping", r.describe()
        headers, body = rx.wait_event("ping")[0]
        assert json.loads(body) == {"text": ":wave: otad test notification to team"}, body
        assert "x-otad-signature-256" not in headers, "no secret: no signature"
        assert curl_publish(srv, "demo", image(3), admin, version="2.0.0").status == 201
        headers, body = rx.wait_event("release.published")[0]
        assert json.loads(body) == {
            "text": ":package: demo 2.0.0 published on stable from upload (plain)"}, body


def test_failing_source_then_recovered():
    """A GitHub source whose API fails: source.failing once, then source.recovered when a sync
    works again (notify_source_failures=1 here: one failed sync is a streak)."""
    with FakeGitHub(token=None) as gh, Receiver() as rx, \
            Server(args=FAST + ["--notify-source-failures", "1"]) as srv:
        srv.add_product("door")
        gh.add_release("v1.0.0", [("firmware.bin", image(4).read_bytes())])
        gh.force(503, count=1, body={"message": "upstream detail that must not leak"})
        srv.cli_ok("source", "add", "door", gh.full_name, "--api-url", gh.api_url, "--interval", "3600")
        admin = srv.token("admin")
        # The receiver first: the poller's first sync starts with the server.
        srv.cli_ok("notify", "add", "ops", rx.url, "--events", "source.*,release.published",
                   "--secret-env", "NOTIFY_SECRET", env={"NOTIFY_SECRET": SECRET})
        srv.start()
        headers, body = rx.wait_event("source.failing")[0]
        doc = verified_json(headers, body)
        d = doc["data"]
        assert doc["product"] == "door" and d["repository"] == gh.full_name, doc
        assert d["reason"] == "failing" and "503" in d["error"], d
        assert "upstream detail" not in body.decode(), "GitHub's text is not ours to send"
        r = srv.api("POST", "/api/v1/sources/1/sync", admin)
        assert r.status == 202, r.describe()
        headers, body = rx.wait_event("source.recovered")[0]
        d = verified_json(headers, body)["data"]
        assert d["failures"] == 0 and d["failures_before"] == 1, d
        headers, body = rx.wait_event("release.published")[0]
        assert verified_json(headers, body)["data"]["source"] == "github"
        time.sleep(1.0)
        assert len(rx.bodies("source.failing")) == 1, "once per failing streak"


def test_retried_until_2xx_same_delivery():
    """500, 500, then 200: the same delivery (same id, same bytes, same signature) three times."""
    with Receiver(statuses=[500, 500]) as rx, Server(args=FAST) as srv:
        srv.add_product("demo")
        admin, read = srv.token("admin"), srv.token("read")
        srv.start()
        rid = add_receiver(srv, admin, "flaky", rx.url, ["*"])
        assert srv.api("POST", f"/api/v1/notifications/{rid}/test", admin).status == 202
        got = rx.wait_event("ping", count=3)
        time.sleep(1.0)  # nothing more comes once it was delivered
        got = rx.bodies("ping")
        assert len(got) == 3, [h.get("x-otad-delivery") for h, _ in got]
        assert len({b for _, b in got}) == 1 and len({h["x-otad-delivery"] for h, _ in got}) == 1
        verified_json(*got[2])
        d = wait_until(lambda: [x for x in deliveries(srv, read, rid) if x["state"] == "delivered"],
                       what="the delivery marked delivered")[0]
        assert d["attempts"] == 3 and d["status"] == 200 and d["last_error"] is None, d


def test_gone_disables_the_receiver():
    with Receiver(statuses=[410]) as rx, Server(args=FAST) as srv:
        srv.add_product("demo")
        admin, read = srv.token("admin"), srv.token("read")
        srv.start()
        rid = add_receiver(srv, admin, "gone", rx.url, ["*"])
        assert srv.api("POST", f"/api/v1/notifications/{rid}/test", admin).status == 202
        rx.wait_event("ping")
        rec = wait_until(lambda: [x for x in srv.api("GET", "/api/v1/notifications", read).json()
                                  ["receivers"] if not x["enabled"]], what="receiver disabled")[0]
        assert rec["last_delivery"]["state"] == "failed" and rec["last_delivery"]["status"] == 410
        assert_api_error(srv.api("POST", f"/api/v1/notifications/{rid}/test", admin), 409, "conflict")


def test_bad_receivers_are_400_and_scopes_hold():
    with Server() as srv:
        admin, read = srv.token("admin"), srv.token("read")
        srv.start()
        for body in ({"name": "x", "url": "ftp://example.com/", "events": ["*"]},
                     {"name": "x", "url": "file:///etc/passwd", "events": ["*"]},
                     {"name": "x", "url": "http://127.0.0.1/", "events": ["rollout.paused"]},
                     {"name": "x", "url": "http://127.0.0.1/", "events": []},
                     {"name": "x", "url": "http://127.0.0.1/", "events": ["*"], "format": "xml"},
                     {"name": "X Y", "url": "http://127.0.0.1/", "events": ["*"]},
                     {"name": "x", "url": "http://127.0.0.1/", "events": "*"},
                     {"name": "x", "url": "http://127.0.0.1/", "events": ["*"], "extra": 1},
                     {"url": "http://127.0.0.1/", "events": ["*"]}):
            assert_api_error(srv.api("POST", "/api/v1/notifications", admin, json_body=body), 400,
                             "bad_request")
        assert_api_error(srv.api("POST", "/api/v1/notifications", admin, body=b"{not json"), 400,
                         "bad_request")
        body = {"name": "ok", "url": "http://127.0.0.1:9/", "events": ["*"]}
        assert_api_error(srv.api("POST", "/api/v1/notifications", read, json_body=body), 403,
                         "forbidden")
        rid = add_receiver(srv, admin, "ok", "http://127.0.0.1:9/", ["*"])
        assert_api_error(srv.api("POST", "/api/v1/notifications", admin, json_body=body), 409,
                         "conflict")
        assert_api_error(srv.api("DELETE", f"/api/v1/notifications/{rid}", read), 403, "forbidden")
        assert_api_error(srv.api("POST", f"/api/v1/notifications/{rid}/test", read), 403, "forbidden")
        assert srv.api("DELETE", f"/api/v1/notifications/{rid}", admin).status == 200
        assert_api_error(srv.api("DELETE", f"/api/v1/notifications/{rid}", admin), 404, "not_found")
        assert_api_error(srv.api("GET", "/api/v1/notifications/99/deliveries", read), 404, "not_found")


def test_hanging_receiver_never_slows_checkins_and_sigterm_is_prompt():
    """A receiver that accepts and never answers: check-ins are answered as usual while the
    delivery hangs, and SIGTERM stops the daemon promptly (the attempt is cut off). The attempt
    timeout is a minute here, so without the cut-off the stop would take that long."""
    with Receiver(hang=True) as rx, Server(args=["--notify-timeout-ms", "60000"]) as srv:
        srv.add_product("demo")
        srv.add_release("demo", image(5), "1.0.0")
        admin = srv.token("admin")
        srv.start()
        rid = add_receiver(srv, admin, "hung", rx.url, ["*"])
        assert srv.api("POST", f"/api/v1/notifications/{rid}/test", admin).status == 202
        wait_until(lambda: rx.accepted >= 1, what="the receiver to hold a delivery")
        current = Device(sta_mac=mac(1), version="1.0.0", sketch_md5=md5_hex(image(5).read_bytes()))
        answered, t0 = 0, time.monotonic()
        for _ in range(40):
            r = srv.send(esp8266("/update/demo", srv.port, current), timeout=10)
            assert r.status == 304, r.describe()
            answered += 1
        elapsed = time.monotonic() - t0
        assert answered == 40 and elapsed < 30, f"{answered} check-ins in {elapsed:.1f}s"
        assert rx.accepted == 1 and not rx.bodies(), "the delivery is still hanging"
        took = srv.stop(timeout=10)
        assert took < 8, f"SIGTERM took {took:.1f}s with a delivery in flight"


def test_a_hanging_receiver_does_not_hold_up_another():
    """Receivers are sent to side by side: one that accepts and never answers (for a minute,
    the attempt timeout here) holds only its own delivery."""
    with Receiver(hang=True) as stuck, Receiver() as rx, \
            Server(args=FAST + ["--notify-timeout-ms", "60000"]) as srv:
        srv.add_product("demo")
        admin = srv.token("admin")
        srv.start()
        add_receiver(srv, admin, "stuck", stuck.url, ["*"])  # the older: its delivery goes first
        add_receiver(srv, admin, "ok", rx.url, ["*"])
        assert curl_publish(srv, "demo", image(7), admin, version="4.0.0").status == 201
        wait_until(lambda: stuck.accepted >= 1, what="the stuck receiver to hold its delivery")
        headers, body = rx.wait_event("release.published", timeout=15)[0]
        assert verified_json(headers, body)["data"]["version"] == "4.0.0"
        assert stuck.accepted == 1 and not stuck.bodies()


def test_pending_delivery_survives_kill9():
    """The event is stored before it is sent: kill -9 during the attempt, restart, it arrives
    (the same delivery id)."""
    with Receiver(hang=True) as rx, Server(args=FAST + ["--notify-timeout-ms", "60000"]) as srv:
        srv.add_product("demo")
        admin, read = srv.token("admin"), srv.token("read")
        srv.start()
        rid = add_receiver(srv, admin, "ops", rx.url, ["release.published"])
        assert curl_publish(srv, "demo", image(6), admin, version="3.0.0").status == 201
        wait_until(lambda: rx.accepted >= 1, what="the delivery to be in flight")
        pending = deliveries(srv, read, rid)
        assert len(pending) == 1 and pending[0]["state"] == "pending", pending
        srv.kill()
        rx.release()  # from now on it answers 200
        srv.start()
        headers, body = rx.wait_event("release.published")[0]
        doc = verified_json(headers, body)
        assert doc["id"] == pending[0]["id"] and doc["data"]["version"] == "3.0.0", doc
        d = wait_until(lambda: [x for x in deliveries(srv, read, rid) if x["state"] == "delivered"],
                       what="delivered after the restart")
        assert d[0]["attempts"] == 1, d  # the cut-off attempt was not counted


def test_events_of_cli_commands_are_sent_by_the_server():
    """A release added and a rollout halted with the CLI on the data folder: the command stores
    the deliveries as it ends, and the running server sends them."""
    with Receiver() as rx, Server(args=FAST) as srv:
        srv.add_product("demo")
        srv.add_release("demo", image(8), "1.0.0")
        srv.cli_ok("channel", "set", "demo", "stable", "--deploy", "rollout", "--stages", "50,100",
                   "--soak", "1d")
        admin = srv.token("admin")
        srv.start()
        add_receiver(srv, admin, "ops", rx.url, ["*"])
        srv.add_release("demo", image(9), "1.1.0")
        headers, body = rx.wait_event("release.published")[0]
        d = verified_json(headers, body)["data"]
        assert d["version"] == "1.1.0" and d["source"] == "cli", d
        rid = srv.cli_ok("rollout", "list", "demo", "--json").json()["rollouts"][0]["id"]
        srv.cli_ok("rollout", "halt", "demo", str(rid))
        headers, body = rx.wait_event("rollout.halted")[0]
        d = verified_json(headers, body)["data"]
        assert d["rollout"] == rid and d["stage"] == 1 and d["counters"]["offered"] == 0, d


def test_cli_add_list_test_deliveries_remove():
    with Receiver() as rx, Server(args=FAST) as srv:
        secret_file = srv.tmp / "secret"
        secret_file.write_text(SECRET + "\n")
        out = srv.cli_ok("notify", "add", "ops", rx.url, "--events", "rollout.halted,source.*",
                         "--secret-file", str(secret_file), "--json").json()["receiver"]
        assert out["signed"] and out["events"] == ["rollout.halted", "source.*"], out
        bad = srv.cli("notify", "add", "x", "gopher://h/", "--events", "*")
        assert bad.code != 0 and "http://" in bad.stderr, bad.describe()
        srv.start()
        srv.cli_ok("notify", "test", str(out["id"]))  # stored by the CLI, sent by the server
        headers, body = rx.wait_event("ping")[0]
        verified_json(headers, body)
        listed = srv.cli_ok("notify", "list", "--json").json()["receivers"]
        assert SECRET not in json.dumps(listed), listed
        wait_until(lambda: srv.cli_ok("notify", "deliveries", str(out["id"]), "--json").json()
                   ["deliveries"][0]["state"] == "delivered", what="delivered, as the CLI shows")
        srv.cli_ok("notify", "remove", str(out["id"]))
        assert srv.cli_ok("notify", "list", "--json").json()["receivers"] == []
