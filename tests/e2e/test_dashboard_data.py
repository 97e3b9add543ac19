"""What the dashboard reads (docs/API.md, "Devices", "Version history",
"Overview", "Tokens"): the device list by keyset over the MAC with its
filters (version, channel, group, outcome, quiet, q as a MAC prefix or a
version part) and its refusals, the devices per version per UTC day (past
days from the table, today counted live, written at shutdown), the one-call
overview, the device answer's history, and tokens created, listed and
revoked over the API. Check-ins are committed at least once a second, the
dashboard's figures within a few: reads poll."""

import datetime
import time

import devices
from devices import Device
from harness import (TOKEN_RE, Server, assert_api_error, assert_status, make_image, md5_hex,
                     wait_until)

BASE = "/api/v1/products/door"


def ok(resp, status, what):
    assert_status(resp, status, what)
    return resp.json()


def door_server():
    """Product door with 1.0.0 and 1.1.0 on stable, 2.0.0 on beta; (srv, admin, read, {version: bytes})."""
    srv = Server()
    srv.add_product("door", "esp8266")
    data = {}
    for version, seed, channel in (("1.0.0", 301, None), ("1.1.0", 302, None), ("2.0.0", 303, "beta")):
        path = make_image("esp8266", 64_000, seed=seed, flash_size="4M")
        srv.add_release("door", path, version, channel=channel)
        data[version] = path.read_bytes()
    return srv, srv.token("admin", name="admin-bot"), srv.token("read", name="reader"), data


def check_in(srv, n, version, data):
    """Device n checks in running VERSION (its real MD5, so 1.1.0 on stable is current)."""
    dev = Device(sta_mac=devices.mac(n), version=version, sketch_md5=md5_hex(data[version]),
                 sketch_size=len(data[version]))
    return srv.send(devices.esp8266("/update/door", srv.port, dev))


def listing(srv, token, query=""):
    return ok(srv.api("GET", f"{BASE}/devices{query}", token), 200, f"devices{query}")


def macs(page):
    return [d["mac"] for d in page["devices"]]


def fleet_of_seven(srv, admin, read, data):
    """Devices 0-2 on 1.0.0 (offered 1.1.0), 3-6 on 1.1.0 (current), 5 and 6 in group lab (beta)."""
    ok(srv.api("POST", f"{BASE}/groups", admin,
               json_body={"name": "lab", "channel": "beta", "macs": [devices.mac(5), devices.mac(6)]}),
       201, "group lab")
    for n in range(7):
        version = "1.0.0" if n < 3 else "1.1.0"
        resp = check_in(srv, n, version, data)
        expect = 304 if 3 <= n < 5 else 200  # the lab devices are offered beta's 2.0.0
        assert_status(resp, expect, f"check-in of device {n}")
    wait_until(lambda: listing(srv, read)["total"] == 7, what="7 devices listed")
    return [devices.mac(n) for n in range(7)]


def test_devices_keyset_pages_both_ways():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        all_macs = fleet_of_seven(srv, admin, read, data)
        first = listing(srv, read, "?limit=3")
        assert macs(first) == all_macs[:3], first
        assert (first["has_prev"], first["has_next"], first["total"]) == (False, True, 7), first
        for d in first["devices"]:
            for key in ("mac", "version", "channel", "group", "last_seen", "outcome", "quiet"):
                assert key in d, f"device without {key}: {d}"
        second = listing(srv, read, f"?limit=3&after={all_macs[2]}")
        assert macs(second) == all_macs[3:6] and second["has_prev"] and second["has_next"], second
        third = listing(srv, read, f"?limit=3&after={all_macs[5].replace(':', '').lower()}")
        assert macs(third) == all_macs[6:] and third["has_prev"] and not third["has_next"], third
        last = listing(srv, read, "?limit=3&last=1")
        assert macs(last) == all_macs[4:] and last["has_prev"] and not last["has_next"], last
        back = listing(srv, read, f"?limit=3&before={all_macs[4]}")
        assert macs(back) == all_macs[1:4] and back["has_prev"] and back["has_next"], back
        front = listing(srv, read, f"?limit=3&before={all_macs[1]}")
        assert macs(front) == all_macs[:1] and not front["has_prev"] and front["has_next"], front
        assert macs(listing(srv, read, "?limit=1000")) == all_macs
        # The older offset paging keeps its shape and its exact total.
        old = listing(srv, read, "?limit=2&offset=2")
        assert old["total"] == 7 and macs(old) == all_macs[2:4], old


def test_devices_filters():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        all_macs = fleet_of_seven(srv, admin, read, data)
        cases = {
            "?version=1.0.0": all_macs[:3],
            "?version=9.9.9": [],
            "?q=1.1": all_macs[3:],                          # a version part
            "?q=1": all_macs,                                # a short number: a version part, not a MAC
            "?q=18": [],                                     # nor "18" (no version holds it)
            "?q=18:": all_macs,                              # with one, the MACs that start with 18
            "?q=18:fe:aa:00:00:0": all_macs,                 # a MAC prefix, any case
            f"?q={all_macs[4].replace(':', '')}": [all_macs[4]],
            "?q=18-FE-AA-00-00-06": [all_macs[6]],
            "?outcome=current": all_macs[3:5],
            "?outcome=update": all_macs[:3] + all_macs[5:],
            "?outcome=refused": [],
            "?group=lab": all_macs[5:],
            "?channel=beta": all_macs[5:],
            "?channel=stable": all_macs[:5],
            "?channel=stable&version=1.1.0": all_macs[3:5],
            "?group=lab&outcome=current": [],
            "?quiet=1": [],
            "?quiet=0": all_macs,
        }
        for query, want in cases.items():
            page = listing(srv, read, query)
            assert macs(page) == want, f"{query}: {macs(page)}, want {want}"
            assert page["total"] == len(want), f"{query}: total {page['total']}, want {len(want)}"
        lab = listing(srv, read, "?group=lab")["devices"][0]
        assert (lab["group"], lab["channel"], lab["outcome"], lab["quiet"]) == ("lab", "beta", "update", False), lab
        plain = listing(srv, read, "?limit=1")["devices"][0]
        assert (plain["group"], plain["channel"], plain["version"]) == (None, "stable", "1.0.0"), plain
        # Paging within a filter: the keyset walks the filtered devices only.
        page = listing(srv, read, "?outcome=update&limit=2")
        assert macs(page) == all_macs[:2] and page["has_next"] and not page["has_prev"], page
        page = listing(srv, read, f"?outcome=update&limit=2&after={all_macs[1]}")
        assert macs(page) == [all_macs[2], all_macs[5]] and page["has_next"] and page["has_prev"], page


def test_devices_quiet_follows_the_learned_interval():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        all_macs = fleet_of_seven(srv, admin, read, data)
        srv.stop()
        now = int(time.time() * 1000)
        # 0: no interval learned, seen 25 h ago (quiet); 1: every minute, seen 4 min ago (quiet);
        # 2: every minute, seen 2 min ago (not: 3 x 1 min); 3: no interval, seen 23 h ago (not).
        for n, seen_ago_ms, interval_ms in ((0, 25 * 3600_000, 0), (1, 240_000, 60_000),
                                            (2, 120_000, 60_000), (3, 23 * 3600_000, 0)):
            srv.sql(f"UPDATE devices SET last_seen_ms = {now - seen_ago_ms}, interval_ms = {interval_ms}, "
                    f"intervals = {1 if interval_ms else 0} WHERE mac = {int(all_macs[n].replace(':', ''), 16)}")
        srv.start()
        page = listing(srv, read, "?quiet=1")
        assert macs(page) == all_macs[:2] and page["total"] == 2, page
        shown = {d["mac"]: d["quiet"] for d in listing(srv, read)["devices"]}
        assert [shown[m] for m in all_macs] == [True, True] + [False] * 5, shown
        overview = wait_until(lambda: (lambda o: o if o["products"][0]["quiet"] == 2 else None)(
            ok(srv.api("GET", "/api/v1/overview", read), 200, "overview")), what="2 quiet in the overview")
        assert overview["products"][0]["seen_24h"] == 6, overview


def test_devices_refuse_bad_input():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        for query in ("?after=zz", "?before=18:FE:AA:00:00", "?limit=0", "?limit=1001", "?outcome=bogus",
                      "?after=18:FE:AA:00:00:01&before=18:FE:AA:00:00:05", "?after=18:FE:AA:00:00:01&last=1",
                      "?last=2", "?quiet=yes", "?version=" + "x" * 65, "?channel=" + "c" * 33):
            assert_api_error(srv.api("GET", f"{BASE}/devices{query}", read), 400, "bad_request", query)
        assert_api_error(srv.api("GET", f"{BASE}/devices"), 401, "unauthorized", "no token")
        assert_api_error(srv.api("GET", "/api/v1/products/nope/devices", read), 404, "not_found", "no product")
        empty = listing(srv, read, "?after=FF:FF:FF:FF:FF:FF")
        assert empty["devices"] == [] and not empty["has_next"], empty


def test_version_history_past_days_today_and_shutdown():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()  # the schema
        srv.stop()
        today = int(time.time() // 86400)
        pid = srv.sql("SELECT id FROM products WHERE name = 'door'")[0][0]
        rows = [(today - 2, "1.0.0", 40), (today - 2, "0.9.0", 2), (today - 1, "1.0.0", 30),
                (today - 1, "1.1.0", 12), (today - 500, "0.1.0", 1)]
        srv.sql("INSERT INTO version_days (product_id, day, version, devices) VALUES " +
                ", ".join(f"({pid}, {d}, '{v}', {n})" for d, v, n in rows))
        srv.start()
        for n in range(3):
            assert_status(check_in(srv, n, "1.1.0", data), 304, f"check-in {n}")
        assert_status(check_in(srv, 3, "1.0.0", data), 200, "check-in 3")

        def history():
            days = ok(srv.api("GET", f"{BASE}/versions/history?days=3", read), 200, "history")["days"]
            return days if days[-1]["versions"] == [{"version": "1.1.0", "devices": 3},
                                                    {"version": "1.0.0", "devices": 1}] else None
        days = wait_until(history, timeout=10, what="today's versions in the history")

        def day(d):
            return (datetime.date(1970, 1, 1) + datetime.timedelta(days=d)).isoformat()
        assert [d["day"] for d in days] == [day(today - 2), day(today - 1), day(today)], days
        assert days[0]["versions"] == [{"version": "1.0.0", "devices": 40}, {"version": "0.9.0", "devices": 2}], days
        assert days[1]["versions"] == [{"version": "1.0.0", "devices": 30}, {"version": "1.1.0", "devices": 12}], days
        default = ok(srv.api("GET", f"{BASE}/versions/history", read), 200, "default days")["days"]
        assert len(default) == 30 and default[-1]["day"] == day(today), default[-1]
        for bad in ("0", "367", "x", "-1"):
            assert_api_error(srv.api("GET", f"{BASE}/versions/history?days={bad}", read), 400, "bad_request", bad)
        assert_api_error(srv.api("GET", "/api/v1/products/nope/versions/history", read), 404, "not_found", "nope")
        srv.stop()
        # Written when the service stops: a restart loses nothing of today; the old day is trimmed.
        rows = [(int(d), v, int(n)) for d, v, n in
                srv.sql("SELECT day, version, devices FROM version_days ORDER BY day, devices DESC")]
        assert (today, "1.1.0", 3) in rows and (today, "1.0.0", 1) in rows, rows
        assert all(r[0] > today - 400 for r in rows), rows


def test_overview():
    srv, admin, read, data = door_server()
    with srv:
        srv.add_product("empty", "esp32")
        srv.start()
        fleet_of_seven(srv, admin, read, data)

        def counted():
            o = ok(srv.api("GET", "/api/v1/overview", read), 200, "overview")
            return o if o["products"] and o["products"][0]["devices"] == 7 else None
        o = wait_until(counted, timeout=10, what="7 devices in the overview")
        door, empty = o["products"]
        assert (door["name"], door["seen_24h"], door["quiet"]) == ("door", 7, 0), door
        assert door["versions"] == [{"version": "1.1.0", "devices": 4}, {"version": "1.0.0", "devices": 3}], door
        assert door["rollouts"] == [], door
        assert (empty["name"], empty["devices"], empty["versions"], empty["rollouts"]) == ("empty", 0, [], []), empty
        assert o["sources"] == [] and o["generated"].endswith("Z"), o
        assert_api_error(srv.api("GET", "/api/v1/overview"), 401, "unauthorized", "no token")


def test_overview_shows_an_active_rollout():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        ok(srv.api("PUT", f"{BASE}/channels/stable", admin, json_body={"deploy": "manual"}), 200, "manual")
        srv.add_release("door", make_image("esp8266", 64_000, seed=304, flash_size="4M"), "1.2.0")
        rollout = ok(srv.api("POST", f"{BASE}/rollouts", admin, json_body={"version": "1.2.0"}), 201,
                     "rollout")["rollout"]
        o = ok(srv.api("GET", "/api/v1/overview", read), 200, "overview")
        ro = o["products"][0]["rollouts"]
        assert [(r["id"], r["channel"], r["version"], r["state"], r["stage"]) for r in ro] == \
            [(rollout["id"], "stable", "1.2.0", "running", 1)], ro
        assert isinstance(ro[0]["stages"], list), ro


def test_device_answer_history_has_details():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        ok(srv.api("PUT", f"{BASE}/channels/stable", admin, json_body={"deploy": "manual"}), 200, "manual")
        srv.add_release("door", make_image("esp8266", 64_000, seed=304, flash_size="4M"), "1.2.0")
        ok(srv.api("POST", f"{BASE}/rollouts", admin,
                   json_body={"version": "1.2.0", "plan": {"stages": "100", "ramp": "0"}}), 201, "rollout to everyone")
        mac = devices.mac(9)
        dev = Device(sta_mac=mac, version="1.1.0", sketch_md5=md5_hex(data["1.1.0"]))
        resp = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            srv.send(devices.esp8266("/update/door", srv.port, dev))), what="the rollout's offer")
        assert resp.header("x-version") == "1.2.0", resp.describe()

        def shown():
            r = srv.api("GET", f"{BASE}/devices/{mac}", read)  # 404 until the check-in is committed
            return r.json()["device"] if r.status == 200 and len(r.json()["device"]["history"]) >= 2 else None
        d = wait_until(shown, what="offer and download in the history")
        events = [(h["event"], h["detail"]) for h in d["history"]]
        assert events[0][0] == "served" and "downloaded" in events[0][1], events  # newest first
        assert events[1][0] == "offer" and "offered" in events[1][1], events
        for h in d["history"]:
            assert set(h) >= {"at", "event", "version", "detail"}, h


def test_tokens_api():
    srv, admin, read, data = door_server()
    with srv:
        srv.start()
        listed = ok(srv.api("GET", "/api/v1/tokens", admin), 200, "tokens")["tokens"]
        assert sorted(t["name"] for t in listed) == ["admin-bot", "reader"], listed
        assert all(set(t) == {"id", "name", "scope", "created", "revoked"} for t in listed), listed
        made = ok(srv.api("POST", "/api/v1/tokens", admin, json_body={"name": "ci", "scope": "publish"}), 201,
                  "create")
        token, secret = made["token"], made["secret"]
        assert TOKEN_RE.match(secret), made
        assert (token["name"], token["scope"], token["revoked"]) == ("ci", "publish", None), token
        # Shown once: the list never carries a secret.
        again = ok(srv.api("GET", "/api/v1/tokens", admin), 200, "tokens")
        assert secret not in str(again) and len(again["tokens"]) == 3, again
        ok(srv.api("GET", "/api/v1/products", secret), 200, "the new token reads")
        assert_api_error(srv.api("GET", "/api/v1/tokens", secret), 403, "forbidden", "publish lists tokens")
        assert_api_error(srv.api("GET", "/api/v1/tokens", read), 403, "forbidden", "read lists tokens")
        assert_api_error(srv.api("POST", "/api/v1/tokens", read, json_body={"name": "x", "scope": "admin"}),
                         403, "forbidden", "read creates a token")
        revoked = ok(srv.api("DELETE", f"/api/v1/tokens/{token['id']}", admin), 200, "revoke")["token"]
        assert revoked["id"] == token["id"] and revoked["revoked"] is not None, revoked
        assert_api_error(srv.api("GET", "/api/v1/products", secret), 401, "unauthorized", "revoked token")
        assert_api_error(srv.api("DELETE", f"/api/v1/tokens/{token['id']}", admin), 404, "not_found", "twice")
        assert_api_error(srv.api("DELETE", "/api/v1/tokens/99999", admin), 404, "not_found", "no such token")
        for body in ({"name": "x"}, {"name": "x", "scope": "root"}, {"name": "x", "scope": "read", "more": 1},
                     {"name": 5, "scope": "read"}):
            assert_api_error(srv.api("POST", "/api/v1/tokens", admin, json_body=body), 400, "bad_request", str(body))
        assert_api_error(srv.api("POST", "/api/v1/tokens", admin, body=b"not json"), 400, "bad_request", "text")
        # The CLI sees the same tokens.
        assert "ci" in srv.cli_ok("token", "list").stdout
