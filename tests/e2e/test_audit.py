"""The audit log (docs/AUDIT.md, docs/API.md "Audit log"): every admin route of
the route table, read from src/http/router.c itself so that a new route
without a step here fails, writes exactly one entry with the right actor,
action, object and outcome; a failed action and a denied one (a valid token
of too small a scope) are recorded with their outcome, requests refused
before a route are not; no entry holds a token or a secret used in the run;
the CLI's actions are recorded as the local user; the GitHub source's
publish is recorded as github via the webhook; the filters of GET
/api/v1/audit and `otad audit list`; the log cannot be changed through the
API; and each release says who published it."""

import json
import os
import pwd
import re
import time

from fake_github import FakeGitHub, sign
from harness import REPO, Server, assert_api_error, assert_status, http_request, make_image, wait_until

GH_TOKEN = "ghp_auditTokenThatMustNeverBeRecorded00000"
SECRET = "audit hook secret: never in the log"
MAC, MAC2 = "18:FE:34:00:00:01", "18:FE:34:00:00:02"
# A receiver's secret, and a URL whose path is a credential (as a Slack webhook's is): never logged.
RECEIVER_SECRET = "receiver secret: never in the log"
RECEIVER_URL = "http://127.0.0.1:9/services/T000/B000/credentialInThePath"
LOCAL_USER = pwd.getpwuid(os.geteuid()).pw_name

ROW_RE = re.compile(r'\b(ADMIN_ROUTE|API_ROUTE)\(\s*"([^"]*)",\s*([A-Z_| ]+?),\s*([A-Z_]+),'
                    r'\s*[A-Z_0-9]+,\s*\w+(?:,\s*"([^"]*)")?\s*\)', re.S)
METHOD_NAMES = {"METHOD_POST": "POST", "METHOD_PUT": "PUT", "METHOD_PATCH": "PATCH",
                "METHOD_DELETE": "DELETE"}


def admin_routes():
    """(method, path under /api/v1/, action) of every route that takes a publish or admin token
    and a method that changes something, as src/http/router.c's table has them."""
    text = (REPO / "src" / "http" / "router.c").read_text()
    rows = []
    for kind, path, methods, token, action in ROW_RE.findall(text):
        if token not in ("ADMIN_TOKEN", "PUBLISH_TOKEN"):
            continue
        for m in (part.strip() for part in methods.split("|")):
            if m in METHOD_NAMES:
                rows.append((METHOD_NAMES[m], path, action or None))
    assert len(rows) >= 15, f"the route table parsed to too few admin routes: {rows}"
    return rows


def image(seed):
    return make_image("esp8266", 64_000, seed=seed, flash_size="4M")


def entries(srv, token, query=""):
    r = srv.api("GET", f"/api/v1/audit{query}", token)
    assert_status(r, 200, f"GET /api/v1/audit{query}")
    body = r.json()
    assert set(body) == {"entries", "next_before"}, r.describe()
    return body["entries"]


def newest_id(srv, token):
    got = entries(srv, token, "?limit=1")
    return got[0]["id"] if got else 0


def since(srv, token, last_id):
    return [e for e in entries(srv, token, "?limit=1000") if e["id"] > last_id]


def check_entry(e, *, action, actor, product, obj, status, via="api"):
    what = f"entry {json.dumps(e)}"
    assert e["action"] == action, what
    assert e["actor"]["via"] == via, what
    assert e["actor"]["name"] == actor["name"] and e["actor"]["token_id"] == actor["id"], what
    assert e["actor"]["address"] == "127.0.0.1", what
    assert e["product"] == product, what
    assert e["object"] == obj, what
    assert e["outcome"]["status"] == status, what
    assert e["outcome"]["ok"] == (status < 400), what
    if status >= 400:
        assert e["outcome"]["error"] and e["outcome"]["reason"], what
    assert isinstance(e["params"], dict), what
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["at"]), what


def token_ids(srv):
    listed = srv.cli_ok("token", "list", "--json").json()["tokens"]
    return {t["name"]: t["id"] for t in listed}


def test_every_admin_route_writes_one_entry_and_no_secret():
    with FakeGitHub(token=GH_TOKEN) as gh, Server() as srv:
        srv.add_product("door")
        srv.add_release("door", image(301), "1.0.0")
        (srv.tmp / "gh-token").write_text(GH_TOKEN + "\n")
        (srv.tmp / "hook-secret").write_text(SECRET + "\n")
        srv.cli_ok("source", "add", "door", gh.full_name, "--api-url", gh.api_url, "--interval", "3600",
                   "--token-file", str(srv.tmp / "gh-token"),
                   "--webhook-secret-file", str(srv.tmp / "hook-secret"))
        tokens = {"admin": srv.token("admin", name="ops-admin"), "publish": srv.token("publish", name="ci-pub"),
                  "read": srv.token("read", name="viewer")}
        ids = token_ids(srv)
        actors = {scope: {"name": name, "id": ids[name]}
                  for scope, name in (("admin", "ops-admin"), ("publish", "ci-pub"), ("read", "viewer"))}
        admin = tokens["admin"]
        srv.start()
        wait_until(lambda: gh.api_calls() >= 1, 10, 0.05, "the poller's first poll")

        # One step per admin route, in an order that makes each succeed:
        # (method, pattern) -> (path, body, scope, status, product, object, action).
        rollout = {}
        made, made_secrets = {}, []

        def signed_in_session(srv, token, admin):
            """Signs TOKEN in to the dashboard (its own entry, before the step's) and returns the
            session's id, from the admin's list."""
            assert_status(srv.api("POST", "/api/v1/session", json_body={"token": token}), 201, "sign in")
            listed = srv.api("GET", "/api/v1/sessions", admin).json()["sessions"]
            made["session"] = str(listed[-1]["id"])
            return made["session"]

        release_body = image(302).read_bytes()
        steps = [
            (("POST", "products"), lambda: ("products", {"name": "lamp", "platform": "esp32"}, "admin", 201,
                                            "lamp", None, "product.create")),
            (("PATCH", "products/{product}"), lambda: ("products/door", {"fleet": {"channel_query": True}},
                                                       "admin", 200, "door", None, "product.update")),
            (("PUT", "products/{product}/channels/{name}"),
             lambda: ("products/door/channels/stable", {"deploy": "manual"}, "admin", 200, "door", "stable",
                      "channel.put")),
            (("POST", "products/{product}/releases"),
             lambda: ("products/door/releases?version=2.0.0", release_body, "publish", 201, "door", "2.0.0",
                      "release.publish")),
            (("POST", "products/{product}/groups"),
             lambda: ("products/door/groups", {"name": "lab", "channel": "beta", "macs": [MAC]}, "admin", 201,
                      "door", "lab", "group.create")),
            (("PATCH", "products/{product}/groups/{name}"),
             lambda: ("products/door/groups/lab", {"priority": 3}, "admin", 200, "door", "lab", "group.update")),
            (("POST", "products/{product}/groups/{name}/macs"),
             lambda: ("products/door/groups/lab/macs", {"macs": [MAC2]}, "admin", 200, "door", "lab",
                      "group.macs.add")),
            (("DELETE", "products/{product}/groups/{name}/macs"),
             lambda: ("products/door/groups/lab/macs", {"macs": [MAC2]}, "admin", 200, "door", "lab",
                      "group.macs.remove")),
            (("DELETE", "products/{product}/groups/{name}"),
             lambda: ("products/door/groups/lab", None, "admin", 200, "door", "lab", "group.delete")),
            (("PUT", "products/{product}/pins/{mac}"),
             lambda: (f"products/door/pins/{MAC}", {"hold": True, "note": "bench"}, "admin", 200, "door", MAC,
                      "pin.put")),
            (("DELETE", "products/{product}/pins/{mac}"),
             lambda: (f"products/door/pins/{MAC}", None, "admin", 200, "door", MAC, "pin.delete")),
            (("POST", "products/{product}/rollouts"),
             lambda: ("products/door/rollouts", {"version": "2.0.0"}, "admin", 201, "door", None,
                      "rollout.start")),
            (("POST", "products/{product}/rollouts/{id}/{action}"),
             lambda: (f"products/door/rollouts/{rollout['id']}/pause", {"reason": "audit test"}, "admin", 200,
                      "door", str(rollout["id"]), "rollout.pause")),
            (("DELETE", "products/{product}/channels/{name}"),
             lambda: ("products/door/channels/stable", None, "admin", 200, "door", "stable",
                      "channel.reset")),
            (("POST", "sources/{id}/sync"),
             lambda: ("sources/1/sync", None, "admin", 202, None, "1", "source.sync")),
            (("POST", "tokens"),
             lambda: ("tokens", {"name": "made-here", "scope": "read"}, "admin", 201, None, None,
                      "token.create")),
            (("DELETE", "tokens/{id}"),
             lambda: (f"tokens/{made['token.create']}", None, "admin", 200, None, made["token.create"],
                      "token.revoke")),
            (("POST", "notifications"),
             lambda: ("notifications", {"name": "ops", "url": RECEIVER_URL, "events": ["rollout.*"],
                                        "secret": RECEIVER_SECRET}, "admin", 201, None, None,
                      "notification.add")),
            (("POST", "notifications/{id}/test"),
             lambda: (f"notifications/{made['notification.add']}/test", None, "admin", 202, None,
                      made["notification.add"], "notification.test")),
            (("DELETE", "notifications/{id}"),
             lambda: (f"notifications/{made['notification.add']}", None, "admin", 200, None,
                      made["notification.add"], "notification.remove")),
            (("DELETE", "sessions/{id}"),
             lambda: (f"sessions/{signed_in_session(srv, tokens['read'], admin)}", None, "admin", 204, None,
                      made["session"], "session.revoke")),
        ]
        table = admin_routes()
        assert sorted((m, p) for m, p, _ in table) == sorted(k for k, _ in steps), \
            f"admin routes without a step here (or steps without a route): {table}"
        actions = {(m, p): a for m, p, a in table}

        for (method, pattern), make in steps:
            path, body, scope, status, product, obj, action = make()
            assert actions[(method, pattern)] is not None, f"{method} {pattern} names no action in router.c"
            before = newest_id(srv, admin)
            kw = {"body": body} if isinstance(body, bytes) else {"json_body": body}
            r = srv.api(method, f"/api/v1/{path}", tokens[scope], **kw)
            assert_status(r, status, f"{method} {path}")
            if action == "rollout.start":
                rollout["id"] = r.json()["rollout"]["id"]
                obj = str(rollout["id"])
            if action in ("token.create", "notification.add"):  # the new object's id
                made[action] = obj = str(r.json()["token" if action == "token.create" else "receiver"]["id"])
            if action == "token.create":
                made_secrets.append(r.json()["secret"])
            new = since(srv, admin, before)
            assert len(new) == 1, f"{method} {path} wrote {len(new)} entries: {new}"
            check_entry(new[0], action=action, actor=actors[scope], product=product, obj=obj, status=status)

        # What the handlers chose to record.
        by_action = {e["action"]: e for e in entries(srv, admin, "?limit=1000") if e["actor"]["via"] == "api"}
        assert by_action["channel.put"]["params"] == {"deploy": "manual"}
        assert by_action["product.create"]["params"] == {"platform": "esp32"}
        assert by_action["group.create"]["params"]["macs"] == [MAC]
        assert by_action["pin.put"]["params"] == {"hold": True, "note": "bench"}
        assert by_action["rollout.pause"]["params"] == {"reason": "audit test"}
        publish = by_action["release.publish"]["params"]
        assert publish["bytes"] == len(release_body) and publish["created"] is True, publish
        assert len(publish["sha256"]) == 64, publish

        # A failed action reached its handler: recorded with its outcome.
        before = newest_id(srv, admin)
        r = srv.api("POST", "/api/v1/products/door/rollouts/999/pause", admin, json_body={})
        assert_api_error(r, 404, "not_found", "pausing no rollout")
        (e,) = since(srv, admin, before)
        check_entry(e, action="rollout.pause", actor=actors["admin"], product="door", obj="999", status=404)
        assert e["outcome"]["error"] == "not_found" and "999" in e["outcome"]["reason"], e

        # A valid token of too small a scope: a denied attempt, recorded once as 403 (the route
        # is checked twice for a request with a body: before it is read and before the handler).
        before = newest_id(srv, admin)
        r = srv.api("PUT", "/api/v1/products/door/channels/stable", tokens["read"], json_body={"deploy": "rollout"})
        assert_api_error(r, 403, "forbidden")
        r = srv.api("DELETE", "/api/v1/products/door/pins/" + MAC, tokens["publish"])
        assert_api_error(r, 403, "forbidden")
        denied = since(srv, admin, before)
        assert len(denied) == 2, denied
        check_entry(denied[1], action="channel.put", actor=actors["read"], product="door", obj="stable",
                    status=403)
        check_entry(denied[0], action="pin.delete", actor=actors["publish"], product="door", obj=MAC, status=403)
        assert denied[1]["params"] == {}, "a refused request's body is never read, nor recorded"

        # Refused before a route: no token, a bad token, no such path, a method the path does not take.
        before = newest_id(srv, admin)
        assert_status(srv.api("PUT", "/api/v1/products/door/channels/stable", None, json_body={}), 401)
        assert_status(srv.api("PUT", "/api/v1/products/door/channels/stable", "otad_" + "0" * 64,
                              json_body={}), 401)
        assert_status(srv.api("POST", "/api/v1/nothing-here", admin, json_body={}), 404)
        assert_status(srv.api("PATCH", "/api/v1/products/door/rollouts", admin, json_body={}), 405)
        # Reads are not actions, the audit log's own included.
        assert_status(srv.api("GET", "/api/v1/products/door/channels", admin), 200)
        assert since(srv, admin, before) == []

        # Append-only from the API: no method changes or deletes an entry, nor reads it with less
        # than an admin token.
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            r = srv.api(method, "/api/v1/audit", admin, json_body={})
            assert_api_error(r, 405, "method_not_allowed", f"{method} /api/v1/audit")
            assert r.header("Allow") == "GET, HEAD", r.describe()
            r = srv.api(method, "/api/v1/audit/1", admin, json_body={})
            assert_status(r, 404, f"{method} /api/v1/audit/1")
        assert_api_error(srv.api("GET", "/api/v1/audit", tokens["read"]), 403, "forbidden")
        assert_api_error(srv.api("GET", "/api/v1/audit", tokens["publish"]), 403, "forbidden")
        assert since(srv, admin, before) == []

        # The GitHub source publishes through a webhook: recorded as github, via webhook.
        rel = gh.add_release("v3.1.0", [("firmware.bin", image(304).read_bytes())])
        payload = json.dumps(gh.release_event("published", rel)).encode()
        r = srv.send(http_request("POST", "/hooks/github", body=payload, headers=[
            ("Content-Type", "application/json"), ("X-GitHub-Event", "release"),
            ("X-GitHub-Delivery", "audit-1"), ("X-Hub-Signature-256", sign(SECRET, payload))]))
        assert_status(r, 202, "the webhook delivery")

        def github_entries():
            return [e for e in entries(srv, admin, "?actor=github") if e["action"] == "release.publish"]
        wait_until(lambda: github_entries(), 10, 0.1, "the webhook's publish in the audit log")
        (gh_entry,) = github_entries()
        assert gh_entry["actor"] == {"via": "webhook", "token_id": None, "name": "github",
                                     "address": gh.full_name}, gh_entry
        assert gh_entry["product"] == "door" and gh_entry["object"] == "3.1.0", gh_entry
        assert gh_entry["params"]["tag"] == "v3.1.0" and gh_entry["params"]["source_id"] == 1, gh_entry
        assert gh_entry["outcome"]["ok"] is True, gh_entry

        # Who published each release.
        published = {r["version"]: r["published"] for r in srv.releases("door", tokens["read"])}
        assert published["2.0.0"] == {"via": "api", "by": "ci-pub", "from": "upload", "tag": None,
                                      "source_id": None}, published
        assert published["1.0.0"] == {"via": "cli", "by": LOCAL_USER, "from": "cli", "tag": None,
                                      "source_id": None}, published
        assert published["3.1.0"] == {"via": "webhook", "by": "github", "from": "github", "tag": "v3.1.0",
                                      "source_id": 1}, published

        # No entry holds a secret used in this run, through the API or the CLI.
        everything = srv.api("GET", "/api/v1/audit?limit=1000", admin).body.decode()
        everything += srv.cli_ok("audit", "list", "--json", "--limit", "1000").stdout
        everything += srv.cli_ok("audit", "list", "--limit", "1000").stdout
        for secret in [*tokens.values(), *made_secrets, GH_TOKEN, SECRET, RECEIVER_SECRET, RECEIVER_URL,
                       str(srv.tmp / "gh-token"), str(srv.tmp / "hook-secret")]:
            assert secret not in everything, f"the audit log holds a secret: {secret[:12]}..."
        for secret in tokens.values():  # nor any part that identifies it
            assert secret[5:21] not in everything


def test_cli_actions_are_recorded_as_the_local_user_and_filters_work():
    with Server() as srv:
        srv.add_product("door")
        srv.add_release("door", image(311), "1.0.0")
        admin = srv.token("admin", name="ops-admin")
        srv.cli_ok("channel", "set", "door", "stable", "--deploy", "manual")
        srv.add_release("door", image(312), "1.1.0")
        srv.cli_ok("rollout", "start", "door", "1.1.0", "--stages", "10,100")
        srv.cli_ok("rollout", "pause", "door", "1", "--reason", "looks odd")
        assert srv.cli("rollout", "resume", "door", "42").code != 0  # a failed action
        srv.cli_ok("pin", "hold", "door", MAC, "--note", "bench")
        srv.cli_ok("group", "add", "door", "lab", "--channel", "stable", "--macs", MAC2)
        revoked = srv.token("read", name="short-lived")
        tid = token_ids(srv)["short-lived"]
        srv.cli_ok("token", "revoke", str(tid))
        srv.cli_ok("key", "generate", "--type", "ecdsa-p256", "--name", "fleet")
        srv.cli_ok("product", "set", "door", "--gzip", "on")

        listed = srv.cli_ok("audit", "list", "--json", "--limit", "1000").json()
        assert listed["next_before"] is None
        log = listed["entries"]
        ids = [e["id"] for e in log]
        assert ids == sorted(ids, reverse=True), "newest first"
        actions = [e["action"] for e in reversed(log)]
        assert actions == ["product.create", "release.publish", "token.create", "channel.put",
                           "release.publish", "rollout.start", "rollout.pause", "rollout.resume", "pin.put",
                           "group.create", "token.create", "token.revoke", "key.generate",
                           "product.update"], actions
        for e in log:
            assert e["actor"] == {"via": "cli", "token_id": None, "name": LOCAL_USER, "address": "local"}, e
            assert e["outcome"]["status"] is None, e
        by = {e["action"]: e for e in log}
        assert by["rollout.pause"]["object"] == "1" and by["rollout.pause"]["params"]["reason"] == "looks odd"
        failed = by["rollout.resume"]
        assert failed["outcome"]["ok"] is False and failed["outcome"]["error"] == "ENOENT", failed
        assert failed["object"] == "42" and failed["outcome"]["reason"], failed
        assert by["pin.put"]["object"] == MAC and by["pin.put"]["params"] == {"hold": True, "note": "bench"}
        assert by["group.create"]["params"]["mac_count"] == 1
        assert by["token.revoke"]["object"] == str(tid)
        assert by["key.generate"]["object"] == "fleet" and by["key.generate"]["params"]["type"] == "ecdsa-p256"
        assert len(by["key.generate"]["params"]["fingerprint"]) == 64
        created = [e for e in log if e["action"] == "token.create"]
        assert {e["params"]["name"] for e in created} == {"ops-admin", "short-lived"}
        text = json.dumps(log)
        assert admin not in text and revoked not in text
        assert "PRIVATE" not in text and "BEGIN" not in text

        def cli_list(*args):
            return srv.cli_ok("audit", "list", "--json", *args).json()["entries"]

        assert [e["action"] for e in cli_list("--action", "rollout.")] == \
            ["rollout.resume", "rollout.pause", "rollout.start"]
        assert [e["action"] for e in cli_list("--outcome", "failed")] == ["rollout.resume"]
        assert len(cli_list("--outcome", "ok")) == len(log) - 1
        assert [e["action"] for e in cli_list("--action", "token.")] == ["token.revoke", "token.create",
                                                                         "token.create"]
        assert cli_list("--actor", "nobody") == []
        assert len(cli_list("--actor", LOCAL_USER)) == len(log)
        assert cli_list("--product", "lamp") == []
        assert len(cli_list("--product", "door")) == len([e for e in log if e["product"] == "door"])
        page = cli_list("--limit", "3")
        assert [e["id"] for e in page] == ids[:3]
        assert [e["id"] for e in cli_list("--limit", "3", "--before", str(page[-1]["id"]))] == ids[3:6]
        middle = log[len(log) // 2]
        assert all(e["at_ms"] >= middle["at_ms"] for e in cli_list("--since", str(middle["at_ms"])))
        assert all(e["at_ms"] <= middle["at_ms"] for e in cli_list("--until", str(middle["at_ms"])))
        assert cli_list("--until", "2000-01-01T00:00:00Z") == []
        assert len(cli_list("--since", "2000-01-01T00:00:00Z")) == len(log)
        table = srv.cli_ok("audit", "list", "--action", "rollout.").stdout.splitlines()
        assert table[0].split()[:5] == ["ID", "WHEN", "VIA", "WHO", "ACTION"], table
        assert len(table) == 4 and "failed ENOENT" in table[1] and "door/42" in table[1], table
        for bad in (["--outcome", "maybe"], ["--since", "yesterday"], ["--limit", "0"], ["--limit", "1001"],
                    ["--before", "x"], ["--bogus", "1"], ["remove"]):
            r = srv.cli("audit", "list", *bad) if bad != ["remove"] else srv.cli("audit", "remove")
            assert r.code == 2, f"otad audit list {bad}: {r.describe()}"

        # The API's filters are the same, paged by next_before.
        srv.start()
        r = srv.api("GET", "/api/v1/audit?limit=4", admin)
        assert_status(r, 200)
        first = r.json()
        assert [e["id"] for e in first["entries"]] == ids[:4] and first["next_before"] == ids[3]
        rest = entries(srv, admin, f"?before={first['next_before']}&limit=1000")
        assert [e["id"] for e in rest] == ids[4:]
        assert [e["action"] for e in entries(srv, admin, "?action=rollout.&outcome=failed")] == ["rollout.resume"]
        assert entries(srv, admin, "?since=2000-01-01T00:00:00.000Z&until=2000-01-02T00:00:00Z") == []
        assert len(entries(srv, admin, f"?actor={LOCAL_USER}&product=door")) == \
            len([e for e in log if e["product"] == "door"])
        for bad in ("?outcome=maybe", "?since=noon", "?limit=0", "?limit=5000", "?before=0", "?colour=red"):
            assert_api_error(srv.api("GET", f"/api/v1/audit{bad}", admin), 400, "bad_request", bad)


def test_retention_setting_is_documented_and_applied_at_start():
    """audit_retention_days: entries older than it go at the first pass (when the server
    starts); 0 keeps them. The entries' ages are made by writing the database (the API
    has no way to change one)."""
    with Server() as srv:
        srv.add_product("door")
        srv.add_product("lamp", "esp32")
        day = 86400 * 1000
        now = int(time.time() * 1000)
        srv.sql(f"UPDATE audit SET at_ms = {now - 3 * day} WHERE product = 'door'")
        srv.start(args=["--audit-retention-days", "2"])
        admin = srv.token("admin")
        wait_until(lambda: [e["product"] for e in entries(srv, admin)] == [None, "lamp"], 5, 0.1,
                   "the entry older than two days deleted at start, the newer kept")
        # The pass logs its count after its deletion commits: the API can show it first.
        wait_until(lambda: "audit: 1 entries older than 2 days deleted" in srv.log(), 5, 0.05,
                   "the retention pass's log line")


def test_dashboard_sign_in_and_out_are_recorded_as_the_dashboard():
    """Signing in is an action on a route anyone may call: recorded with the token it signed
    in as (via dashboard) or, refused, with no one; a change made through the session is the
    dashboard's; signing out is recorded too. Never the token or the cookie."""
    with Server() as srv:
        srv.add_product("door")
        admin = srv.token("admin", name="ops-admin")
        viewer = srv.token("read", name="viewer")
        ids = token_ids(srv)
        srv.start()
        before = newest_id(srv, admin)
        r = srv.api("POST", "/api/v1/session", json_body={"token": viewer})
        assert_status(r, 201, "sign in")
        cookie = r.header("Set-Cookie").split(";", 1)[0]
        csrf = r.json()["session"]["csrf"]
        assert_status(srv.api("POST", "/api/v1/session", json_body={"token": "otad_" + "1" * 64}), 401,
                      "a bad token")
        r = srv.api("PUT", "/api/v1/products/door/channels/stable", json_body={"deploy": "manual"},
                    headers=[("Cookie", cookie), ("X-CSRF-Token", csrf)])
        assert_status(r, 403, "a read session's change")
        assert_status(srv.api("DELETE", "/api/v1/session", headers=[("Cookie", cookie), ("X-CSRF-Token", csrf)]),
                      204, "sign out")
        got = list(reversed(since(srv, admin, before)))
        assert [e["action"] for e in got] == ["session.sign_in", "session.sign_in", "channel.put",
                                              "session.sign_out"], got
        for e in (got[0], got[2], got[3]):
            assert e["actor"] == {"via": "dashboard", "token_id": ids["viewer"], "name": "viewer",
                                  "address": "127.0.0.1"}, e
        assert got[0]["outcome"]["status"] == 201 and got[3]["outcome"]["status"] == 204, got
        assert got[1]["actor"]["via"] == "dashboard" and got[1]["actor"]["name"] == "", got[1]
        assert got[1]["actor"]["address"] == "127.0.0.1" and got[1]["outcome"]["status"] == 401, got[1]
        assert got[2]["outcome"]["status"] == 403, got[2]
        text = json.dumps(got)
        assert viewer not in text and cookie.split("=", 1)[1] not in text and csrf not in text, text


def test_what_is_not_an_attempt_is_not_recorded_and_peer_bytes_stay_listed():
    """Another site's request through a session is no one's action: refused, never recorded
    under the victim's name. A sign-in whose body is not a token, or from another site, looked
    at no token: not recorded. Bytes a peer chose (a user agent, a product in a path) that are
    not UTF-8 are stored printable, so the entry and the session still list."""
    with Server() as srv:
        srv.add_product("door")
        admin = srv.token("admin", name="ops-admin")
        viewer = srv.token("read", name="viewer")
        srv.start()
        before = newest_id(srv, admin)
        r = srv.api("POST", "/api/v1/session", json_body={"token": viewer},
                    headers=[("User-Agent", "evil\udcff\udcfe".encode("utf-8", "surrogateescape").decode("latin-1"))])
        assert_status(r, 201, "sign in with a user agent that is not UTF-8")
        cookie = r.header("Set-Cookie").split(";", 1)[0]
        csrf = r.json()["session"]["csrf"]
        for _ in range(3):
            assert_status(srv.api("POST", "/api/v1/session", body=b"not json",
                                  headers=[("Content-Type", "application/json")]), 400, "garbage sign-in")
        assert_status(srv.api("POST", "/api/v1/session", json_body={"token": viewer},
                              headers=[("Origin", "http://evil.example")]), 403, "sign-in from another site")
        r = srv.api("POST", "/api/v1/products", json_body={"name": "x", "platform": "esp32"},
                    headers=[("Cookie", cookie), ("X-CSRF-Token", csrf), ("Origin", "http://evil.example")])
        assert_api_error(r, 403, "csrf", "another site's change through the viewer's session")
        got = since(srv, admin, before)
        assert [e["action"] for e in got] == ["session.sign_in"], got
        sessions = srv.api("GET", "/api/v1/sessions", admin).json()["sessions"]
        assert [s["user_agent"] for s in sessions] == ["evil??"], sessions
        r = srv.api("DELETE", "/api/v1/products/%FF%1B[31m/pins/x", viewer)
        assert_api_error(r, 403, "forbidden", "a denied attempt naming bytes that are not text")
        (e,) = since(srv, admin, got[0]["id"])
        assert e["product"] == "??[31m", e
        listed = srv.cli_ok("audit", "list", "--limit", "5").stdout
        assert "\x1b" not in listed, listed
