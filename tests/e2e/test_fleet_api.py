"""Fleet control in the admin API (docs/API.md, "Fleet control"; docs/FLEET.md):
every route under every token scope, exactly as the route table in docs/API.md
says; round trips of groups, pins, rollouts and their actions, the status and
device answers; refusals (a bad plan, an unknown group, pausing a paused
rollout, a malformed MAC); and check-ins over raw HTTP that pins, holds,
MAC-list groups and ?channel= steer."""

import re

import devices
from devices import Device
from harness import (REPO, Server, assert_api_error, assert_image, assert_not_modified, assert_status,
                     make_image, wait_until)

SCOPES = ("none", "read", "publish", "admin")
RANK = {"none": 0, "read": 1, "publish": 2, "admin": 3}
MAC = "18:FE:34:00:00:01"


def fleet_routes():
    """The rows of docs/API.md's fleet route table: (method, path, scope)."""
    text = (REPO / "docs" / "API.md").read_text()
    m = re.search(r"<!-- fleet-routes:begin -->(.*)<!-- fleet-routes:end -->", text, re.S)
    assert m, "docs/API.md has no fleet-routes table"
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("method", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[1].strip("`"), cells[2]))
    assert len(rows) >= 19, f"fleet route table too short: {rows}"
    return rows


def img(seed):
    return make_image("esp8266", 64_000, seed=seed, flash_size="4M")


def fleet_server():
    """A server with product door, releases 1.0.0 and 1.1.0 on stable and 2.0.0 on beta,
    and a token per scope. Returns (srv, {scope: token})."""
    srv = Server()
    srv.add_product("door", "esp8266")
    srv.add_release("door", img(201), "1.0.0")
    srv.add_release("door", img(202), "1.1.0")
    srv.add_release("door", img(203), "2.0.0", channel="beta")
    tokens = {scope: srv.token(scope, name=f"{scope}-bot") for scope in SCOPES[1:]}
    tokens["none"] = None
    return srv, tokens


def ok(resp, status, what):
    assert_status(resp, status, what)
    return resp.json()


def staged_release(srv, admin, version="1.2.0", seed=204):
    """Makes stable a manual channel and publishes VERSION to it: a rollout can start."""
    ok(srv.api("PUT", "/api/v1/products/door/channels/stable", admin, json_body={"deploy": "manual"}),
       200, "PUT channel manual")
    srv.add_release("door", img(seed), version)


BODIES = {
    ("PUT", "channels/{name}"): {"deploy": "manual"},
    ("POST", "groups"): {"name": "g2", "channel": "beta", "macs": ["18:FE:34:00:00:07"]},
    ("PATCH", "groups/{name}"): {"priority": 3},
    ("POST", "groups/{name}/macs"): {"macs": ["18:FE:34:00:00:08"]},
    ("DELETE", "groups/{name}/macs"): {"macs": ["18:FE:34:00:00:08"]},
    ("PUT", "pins/{mac}"): {"hold": True},
    ("POST", "rollouts"): {"version": "1.2.0"},
    ("POST", "rollouts/{id}/{action}"): {"reason": "scope test"},
}


def test_every_fleet_route_under_every_scope():
    srv, tokens = fleet_server()
    with srv:
        srv.start()
        admin = tokens["admin"]
        staged_release(srv, admin)
        ok(srv.api("POST", "/api/v1/products/door/groups", admin,
                   json_body={"name": "lab", "channel": "beta", "macs": [MAC]}), 201, "group lab")
        rid = ok(srv.api("POST", "/api/v1/products/door/rollouts", admin, json_body={"version": "1.2.0"}),
                 201, "rollout")["rollout"]["id"]
        # One check-in so the device is known to devices/{mac}.
        srv.send(devices.esp8266("/update/door", srv.port, Device(sta_mac=MAC, version="1.0.0")))
        for method, path, scope in fleet_routes():
            assert scope in ("read", "admin"), f"{method} {path}: fleet routes need read or admin, not {scope}"
            concrete = (path.replace("{name}", "lab").replace("{mac}", MAC).replace("{id}", str(rid))
                        .replace("{action}", "pause"))
            target = "/api/v1/products/door/" + concrete
            for who in SCOPES:
                resp = srv.api(method, target, tokens[who], json_body=BODIES.get((method, path)))
                what = f"{method} {path} with a {who} token"
                if who == "none":
                    assert_api_error(resp, 401, "unauthorized", what)
                elif RANK[who] < RANK[scope]:
                    assert_api_error(resp, 403, "forbidden", what)
                else:
                    assert resp.status not in (401, 403, 405) and resp.status < 500, \
                        f"{what}: allowed by docs/API.md, got {resp.describe()}"
                    if resp.status == 404:
                        msg = resp.json()["error"]["message"]
                        assert "no such API endpoint" not in msg, f"{what}: the route does not exist"


def test_group_pin_and_refusals_round_trip():
    srv, tokens = fleet_server()
    with srv:
        srv.start()
        admin, read = tokens["admin"], tokens["read"]
        base = "/api/v1/products/door"
        g = ok(srv.api("POST", f"{base}/groups", admin,
                       json_body={"name": "lab", "channel": "beta", "macs": [MAC, "18-fe-34-00-00-02"],
                                  "priority": 2, "window": "02:00-05:00", "tz": "UTC"}), 201, "POST group")["group"]
        assert (g["name"], g["channel"], g["match"], g["priority"], g["window"], g["tz"]) == \
            ("lab", "beta", "macs", 2, "02:00-05:00", "UTC"), g
        assert g["macs"] == [MAC, "18:FE:34:00:00:02"], g
        added = ok(srv.api("POST", f"{base}/groups/lab/macs", admin, json_body={"macs": ["18FE34000003"]}),
                   200, "add MACs")["group"]
        assert added["mac_count"] == 3 and "18:FE:34:00:00:03" in added["macs"], added
        removed = ok(srv.api("DELETE", f"{base}/groups/lab/macs", admin, json_body={"macs": [MAC]}),
                     200, "remove MACs")["group"]
        assert MAC not in removed["macs"] and removed["mac_count"] == 2, removed
        patched = ok(srv.api("PATCH", f"{base}/groups/lab", admin, json_body={"window": None, "priority": 9}),
                     200, "PATCH group")["group"]
        assert (patched["window"], patched["priority"]) == (None, 9), patched
        listed = ok(srv.api("GET", f"{base}/groups", read), 200, "GET groups")["groups"]
        assert [x["name"] for x in listed] == ["lab"] and listed[0]["mac_count"] == 2, listed

        prefix = ok(srv.api("POST", f"{base}/groups", admin,
                            json_body={"name": "old", "channel": "beta", "match": "mac-prefix",
                                       "value": "18:FE:35"}), 201, "prefix group")["group"]
        assert (prefix["match"], prefix["value"], prefix["mac_count"]) == ("mac-prefix", "18:FE:35", 0), prefix

        # Refusals.
        assert_api_error(srv.api("GET", f"{base}/groups/nosuch", read), 404, "not_found", "unknown group")
        assert_api_error(srv.api("PATCH", f"{base}/groups/nosuch", admin, json_body={"priority": 1}),
                         404, "not_found", "PATCH unknown group")
        assert_api_error(srv.api("POST", f"{base}/groups", admin, json_body={"name": "lab", "channel": "x"}),
                         409, "conflict", "a taken group name")
        assert_api_error(srv.api("POST", f"{base}/groups", admin,
                                 json_body={"name": "bad", "channel": "beta", "macs": ["18:FE:34:00:00"]}),
                         400, "bad_request", "a malformed MAC in a list")
        assert_api_error(srv.api("GET", f"{base}/groups/bad", read), 404, "not_found",
                         "a refused group is not half made")
        assert_api_error(srv.api("POST", f"{base}/groups", admin,
                                 json_body={"name": "x", "channel": "beta", "colour": "red"}),
                         400, "bad_request", "an unknown field")
        assert_api_error(srv.api("PUT", f"{base}/pins/18:FE:34:00:00:ZZ", admin, json_body={"hold": True}),
                         400, "bad_request", "malformed MAC in the path")
        assert_api_error(srv.api("GET", f"{base}/devices/not-a-mac", read), 400, "bad_request",
                         "malformed MAC in devices/{mac}")

        # Pins and holds.
        pin = ok(srv.api("PUT", f"{base}/pins/{MAC}", admin, json_body={"version": "1.0.0", "note": "lab bench"}),
                 200, "pin")["pin"]
        assert (pin["mac"], pin["hold"], pin["version"], pin["mode"], pin["note"]) == \
            (MAC, False, "1.0.0", "sketch", "lab bench"), pin
        hold = ok(srv.api("PUT", f"{base}/pins/18:fe:34:00:00:02", admin, json_body={"hold": True}),
                  200, "hold")["pin"]
        assert (hold["hold"], hold["version"]) == (True, None), hold
        assert_api_error(srv.api("PUT", f"{base}/pins/{MAC}", admin, json_body={"version": "9.9.9"}),
                         404, "not_found", "pin to an unknown release")
        assert_api_error(srv.api("PUT", f"{base}/pins/{MAC}", admin, json_body={"version": "1.0.0", "hold": True}),
                         400, "bad_request", "a pin and a hold at once")
        pins = ok(srv.api("GET", f"{base}/pins", read), 200, "GET pins")["pins"]
        assert sorted((p["mac"], p["hold"]) for p in pins) == [(MAC, False), ("18:FE:34:00:00:02", True)], pins
        ok(srv.api("DELETE", f"{base}/pins/{MAC}", admin), 200, "clear pin")
        assert_api_error(srv.api("DELETE", f"{base}/pins/{MAC}", admin), 404, "not_found", "clear twice")
        ok(srv.api("DELETE", f"{base}/groups/lab", admin), 200, "DELETE group")
        assert_api_error(srv.api("DELETE", f"{base}/groups/lab", admin), 404, "not_found", "delete twice")


def test_channel_settings_round_trip():
    srv, tokens = fleet_server()
    with srv:
        srv.start()
        admin = tokens["admin"]
        base = "/api/v1/products/door/channels"
        chans = {c["name"]: c for c in ok(srv.api("GET", base, tokens["read"]), 200, "GET channels")["channels"]}
        assert set(chans) == {"stable", "beta"}, chans
        assert (chans["stable"]["configured"], chans["stable"]["deploy"], chans["stable"]["deployed"]) == \
            (False, "immediate", "1.1.0"), chans["stable"]
        c = ok(srv.api("PUT", f"{base}/stable", admin,
                       json_body={"deploy": "rollout", "on_new": "queue", "window": "22:00-04:00",
                                  "tz": "UTC", "plan": {"stages": [5, 50, 100], "soak": "2h", "fail_max": 7,
                                                        "count_silent": False}}), 200, "PUT channel")["channel"]
        assert (c["configured"], c["deploy"], c["on_new"], c["window"], c["tz"]) == \
            (True, "rollout", "queue", "22:00-04:00", "UTC"), c
        assert (c["plan"]["stages"], c["plan"]["soak"], c["plan"]["fail_max"], c["plan"]["count_silent"]) == \
            ([5.0, 50.0, 100.0], "2h", 7, "no"), c["plan"]
        # The answer's plan goes back as it is; a field given alone keeps the others.
        again = ok(srv.api("PUT", f"{base}/stable", admin, json_body={"plan": c["plan"], "deploy": "manual"}),
                   200, "PUT the plan back")["channel"]
        assert again["plan"] == c["plan"] and again["window"] == "22:00-04:00", again
        bad = srv.api("PUT", f"{base}/stable", admin, json_body={"plan": {"stages": "10,5,100"}})
        assert_api_error(bad, 400, "bad_request", "stages not ascending")
        bad = srv.api("PUT", f"{base}/stable", admin, json_body={"plan": {"soak": "1h", "ramp": "2h"}})
        assert_api_error(bad, 400, "bad_request", "ramp longer than soak")
        assert "ramp" in bad.json()["error"]["message"], bad.describe()
        # The keys of one plan may come in any order: a ramp past the old soak, with a longer soak.
        good = ok(srv.api("PUT", f"{base}/stable", admin,
                          json_body={"plan": {"ramp": "3h", "soak": "4h"}}), 200, "ramp before soak")
        assert (good["channel"]["plan"]["ramp"], good["channel"]["plan"]["soak"]) == ("3h", "4h"), good
        bad = srv.api("PUT", f"{base}/stable", admin, json_body={"plan": {"frobnicate": 1}})
        assert_api_error(bad, 400, "bad_request", "unknown plan key")
        assert "frobnicate" in bad.json()["error"]["message"], bad.describe()
        assert_api_error(srv.api("PUT", f"{base}/stable", admin, json_body={"window": "25:00-26:00"}),
                         400, "bad_request", "bad window")
        assert_api_error(srv.api("PUT", f"{base}/stable", admin, json_body={"tz": "Mars/Olympus"}),
                         400, "bad_request", "unknown time zone")
        reset = ok(srv.api("DELETE", f"{base}/stable", admin), 200, "DELETE channel")["channel"]
        assert (reset["configured"], reset["deploy"], reset["window"]) == (False, "immediate", "always"), reset
        assert_api_error(srv.api("DELETE", f"{base}/stable", admin), 404, "not_found", "reset twice")


def test_rollout_round_trip_and_actor():
    srv, tokens = fleet_server()
    with srv:
        srv.start()
        admin = tokens["admin"]
        base = "/api/v1/products/door/rollouts"
        staged_release(srv, admin)
        bad = srv.api("POST", base, admin, json_body={"version": "1.2.0", "plan": {"stages": "50,10"}})
        assert_api_error(bad, 400, "bad_request", "a bad plan")
        assert "stages" in bad.json()["error"]["message"], bad.describe()
        assert_api_error(srv.api("POST", base, tokens["publish"], json_body={"version": "1.2.0"}),
                         403, "forbidden", "publish may not start a rollout")
        assert_api_error(srv.api("POST", base, admin, json_body={"version": "7.0.0"}), 404, "not_found",
                         "unknown release")
        assert_api_error(srv.api("POST", base, admin, json_body={"version": "1.0.0"}), 400, "bad_request",
                         "an older release without rollback")
        r = ok(srv.api("POST", base, admin, json_body={"version": "1.2.0", "plan": {"stages": "1,10,100",
                                                                                   "soak": "30m", "ramp": "0"}}),
               201, "start")["rollout"]
        for key in ("id", "channel", "version", "state", "stage", "stage_count", "admitted_percent",
                    "soak_left_s", "counters", "per_stage", "reason", "next", "actor", "plan"):
            assert key in r, f"rollout status without {key}: {r}"
        assert (r["channel"], r["version"], r["state"], r["stage"], r["stage_count"], r["actor"]) == \
            ("stable", "1.2.0", "running", 1, 3, "admin-bot"), r
        assert r["admitted_percent"] == 1.0 and 0 < r["soak_left_s"] <= 1800, r
        assert [s["percent"] for s in r["per_stage"]] == [1.0, 10.0, 100.0], r["per_stage"]
        assert r["counters"]["offered"] == 0 and r["counters"]["failed"] == 0, r["counters"]
        assert_api_error(srv.api("POST", base, admin, json_body={"version": "1.2.0"}), 409, "conflict",
                         "the same release twice")
        rid = r["id"]
        paused = ok(srv.api("POST", f"{base}/{rid}/pause", admin, json_body={"reason": "night"}), 200, "pause")
        assert paused["rollout"]["state"] == "paused" and "night" in paused["rollout"]["reason"], paused
        again = srv.api("POST", f"{base}/{rid}/pause", admin)
        assert_api_error(again, 409, "conflict", "pausing a paused rollout")
        assert "paused" in again.json()["error"]["message"], again.describe()
        ok(srv.api("POST", f"{base}/{rid}/resume", admin), 200, "resume")
        promoted = ok(srv.api("POST", f"{base}/{rid}/promote", admin), 200, "promote")["rollout"]
        assert (promoted["stage"], promoted["admitted_percent"]) == (2, 10.0), promoted
        assert_api_error(srv.api("POST", f"{base}/{rid}/frobnicate", admin), 404, "not_found", "unknown action")
        assert_api_error(srv.api("POST", f"{base}/9999/pause", admin), 404, "not_found", "unknown rollout")
        active = ok(srv.api("GET", f"{base}?active=1", tokens["read"]), 200, "active")["rollouts"]
        assert [x["id"] for x in active] == [rid], active
        aborted = ok(srv.api("POST", f"{base}/{rid}/abort", admin, json_body={"reason": "enough"}), 200, "abort")
        assert aborted["rollout"]["state"] == "aborted" and "admin-bot" in aborted["rollout"]["reason"], aborted
        assert_api_error(srv.api("POST", f"{base}/{rid}/resume", admin), 409, "conflict", "resume an aborted one")
        assert ok(srv.api("GET", f"{base}?active=1", tokens["read"]), 200, "active")["rollouts"] == []
        every = ok(srv.api("GET", base, tokens["read"]), 200, "all")["rollouts"]
        assert [(x["id"], x["state"]) for x in every] == [(rid, "aborted")], every
        got = ok(srv.api("GET", f"{base}/{rid}", tokens["read"]), 200, "GET one")["rollout"]
        assert got["state"] == "aborted" and got["stage"] == 2, got
        assert_api_error(srv.api("GET", f"{base}?active=maybe", tokens["read"]), 400, "bad_request", "active=?")


def test_device_show_answers_why():
    srv, tokens = fleet_server()
    with srv:
        srv.start()
        admin, read = tokens["admin"], tokens["read"]
        base = "/api/v1/products/door"
        assert_api_error(srv.api("GET", f"{base}/devices/{MAC}", read), 404, "not_found", "never seen")
        ok(srv.api("POST", f"{base}/groups", admin, json_body={"name": "lab", "channel": "beta", "macs": [MAC]}),
           201, "group")
        resp = srv.send(devices.esp8266("/update/door", srv.port, Device(sta_mac=MAC, version="1.0.0")))
        assert_status(resp, 200, "the lab device is offered beta's release")
        assert srv.cli_ok("device", "list", "door")  # the check-in is committed within a second
        dev = wait_until(lambda: (lambda r: r.status == 200 and r.json()["device"])(
            srv.api("GET", f"{base}/devices/{MAC}", read)), what="device show")
        for key in ("mac", "known", "last_checkin", "channel", "channel_rule", "pinned", "held", "rollout",
                    "stage", "bucket", "admitted", "window_open", "target", "decision", "standing", "history"):
            assert key in dev, f"device show without {key}: {dev}"
        assert (dev["mac"], dev["channel"], dev["target"], dev["pinned"], dev["held"], dev["window_open"]) == \
            (MAC, "beta", "2.0.0", False, False, True), dev
        assert "lab" in dev["channel_rule"], dev["channel_rule"]
        assert dev["rollout"] is None and dev["bucket"] is None, dev
        ok(srv.api("PUT", f"{base}/pins/{MAC}", admin, json_body={"hold": True}), 200, "hold")
        held = ok(srv.api("GET", f"{base}/devices/{MAC}", read), 200, "held device")["device"]
        assert held["held"] is True and held["decision"].startswith("304"), held


def test_checkins_follow_pins_holds_groups_and_channel_query():
    srv, tokens = fleet_server()
    with srv:
        srv.start()
        admin = tokens["admin"]
        base = "/api/v1/products/door"
        data = {v: img(s).read_bytes() for v, s in (("1.0.0", 201), ("1.1.0", 202), ("2.0.0", 203))}

        def checkin(mac, version, target="/update/door"):
            return srv.send(devices.esp8266(target, srv.port, Device(sta_mac=mac, version=version)))

        pinned, held, lab, other = MAC, "18:FE:34:00:00:02", "18:FE:34:00:00:03", "18:FE:34:00:00:04"
        assert_image(checkin(other, "1.0.0"), data["1.1.0"], "1.1.0", "no rule: the channel's release")
        ok(srv.api("PUT", f"{base}/pins/{pinned}", admin, json_body={"version": "1.0.0"}), 200, "pin")
        ok(srv.api("PUT", f"{base}/pins/{held}", admin, json_body={"hold": True}), 200, "hold")
        ok(srv.api("POST", f"{base}/groups", admin, json_body={"name": "lab", "channel": "beta", "macs": [lab]}),
           201, "group")
        # A pin is exactly the pinned release, even a downgrade from what the device runs.
        resp = wait_until(lambda: (lambda r: r if r.header("x-version") == "1.0.0" else None)(
            checkin(pinned, "1.1.0")), what="the pin to apply")
        assert_image(resp, data["1.0.0"], "1.0.0", "pinned device on 1.1.0")
        assert_not_modified(checkin(pinned, "1.0.0"), "pinned device on its pin")
        assert_not_modified(checkin(held, "1.0.0"), "held device")
        assert_image(checkin(lab, "1.0.0"), data["2.0.0"], "2.0.0", "MAC-list group on beta")
        assert_image(checkin(other, "1.0.0"), data["1.1.0"], "1.1.0", "others stay on stable")
        # ?channel= is ignored until the product allows it.
        assert_image(checkin(other, "1.0.0", "/update/door?channel=beta"), data["1.1.0"], "1.1.0",
                     "?channel= while the product does not allow it")
        prod = ok(srv.api("PATCH", base, admin, json_body={"fleet": {"channel_query": True}}), 200, "PATCH")
        assert prod["product"]["fleet"] == {"channel_query": True, "group_query": False, "max_downloads": 0,
                                           "require_https": False}, prod
        shown = ok(srv.api("GET", base, tokens["read"]), 200, "GET product")["product"]["fleet"]
        assert shown["channel_query"] is True, shown
        resp = wait_until(lambda: (lambda r: r if r.header("x-version") == "2.0.0" else None)(
            checkin(other, "1.0.0", "/update/door?channel=beta")), what="?channel=beta to apply")
        assert_image(resp, data["2.0.0"], "2.0.0", "?channel=beta once allowed")
        assert_api_error(srv.api("PATCH", base, admin, json_body={"fleet": {"max_downloads": -1}}),
                         400, "bad_request", "a negative cap")
        # Clearing the hold: the device is offered the channel's release again.
        ok(srv.api("DELETE", f"{base}/pins/{held}", admin), 200, "clear hold")
        assert_image(checkin(held, "1.0.0"), data["1.1.0"], "1.1.0", "hold cleared")
