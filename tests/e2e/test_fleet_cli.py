"""Fleet control on the command line (src/cli/cli_fleet.c): channel, group,
pin, rollout and device show on a data dir, their --json the API's shapes,
exit statuses (0 ok, 1 refused, 2 usage), and a server on the same folder
following what the CLI changed."""

import devices
from devices import Device
from harness import Server, assert_image, assert_not_modified, make_image, wait_until

MAC = "18:FE:34:00:00:01"


def img(seed):
    return make_image("esp8266", 64_000, seed=seed, flash_size="4M")


def door(srv):
    srv.add_product("door", "esp8266")
    srv.add_release("door", img(301), "1.0.0")
    srv.add_release("door", img(302), "2.0.0", channel="beta")


def test_channel_set_show_and_reset():
    with Server() as srv:
        door(srv)
        out = srv.cli_ok("channel", "set", "door", "stable", "--deploy", "manual", "--on-new", "queue",
                         "--stages", "5,50,100", "--plan", "soak=2h", "--plan", "fail_max=7",
                         "--window", "02:00-05:00", "--tz", "UTC", "--json").json()["channel"]
        assert (out["deploy"], out["on_new"], out["window"], out["plan"]["stages"], out["plan"]["soak"],
                out["plan"]["fail_max"]) == ("manual", "queue", "02:00-05:00", [5.0, 50.0, 100.0], "2h", 7), out
        shown = srv.cli_ok("channel", "show", "door", "stable").stdout
        assert "manual" in shown and "fail_max=7" in shown and "02:00-05:00 UTC" in shown, shown
        listed = {c["name"] for c in srv.cli_ok("channel", "list", "door", "--json").json()["channels"]}
        assert listed == {"stable", "beta"}, listed
        bad = srv.cli("channel", "set", "door", "stable", "--soak", "1h", "--ramp", "2h")
        assert bad.code == 1 and "ramp" in bad.stderr, bad.describe()
        # The flags are read whole, in any order: a short soak with no ramp is no ramp over soak.
        fast = srv.cli_ok("channel", "set", "door", "stable", "--soak", "5s", "--ramp", "0",
                          "--json").json()["channel"]["plan"]
        assert fast["soak"] == "5s" and fast["ramp"] in (0, "0"), fast
        bad = srv.cli("channel", "set", "door", "stable", "--plan", "soak=5s;ramp=0")
        assert bad.code == 1 and "';'" in bad.stderr, bad.describe()
        srv.cli_ok("channel", "set", "door", "stable", "--soak", "2h", "--ramp", "15m")
        bad = srv.cli("channel", "set", "door", "stable", "--plan", "nokey")
        assert bad.code == 1 and "key=value" in bad.stderr, bad.describe()
        assert srv.cli("channel", "set", "door").code == 2, "a missing channel name is a usage error"
        srv.cli_ok("channel", "reset", "door", "stable")
        again = srv.cli_ok("channel", "show", "door", "stable", "--json").json()["channel"]
        assert (again["configured"], again["deploy"]) == (False, "immediate"), again
        assert srv.cli("channel", "reset", "door", "stable").code == 1, "resetting twice is refused"


def test_group_pin_and_device_show_steer_a_served_device():
    with Server() as srv:
        door(srv)
        srv.cli_ok("group", "add", "door", "lab", "--channel", "beta", "--macs", f"{MAC},18:FE:34:00:00:02")
        srv.cli_ok("group", "add-macs", "door", "lab", "18:FE:34:00:00:03")
        srv.cli_ok("group", "remove-macs", "door", "lab", "18:FE:34:00:00:02")
        g = srv.cli_ok("group", "show", "door", "lab", "--json").json()["group"]
        assert g["macs"] == [MAC, "18:FE:34:00:00:03"], g
        srv.cli_ok("group", "set", "door", "lab", "--priority", "4")
        assert [x["priority"] for x in srv.cli_ok("group", "list", "door", "--json").json()["groups"]] == [4]
        two = srv.cli("group", "add", "door", "x", "--channel", "beta", "--sdk", "2.2", "--core", "3.1")
        assert two.code == 1 and "one way" in two.stderr, two.describe()
        assert srv.cli("group", "add", "door", "y", "--macs", "nonsense", "--channel", "beta").code == 1
        assert srv.cli("group", "show", "door", "nosuch").code == 1
        srv.cli_ok("pin", "hold", "door", "18:FE:34:00:00:09", "--note", "bench")
        srv.cli_ok("pin", "set", "door", "18:FE:34:00:00:08", "1.0.0")
        pins = srv.cli_ok("pin", "list", "door", "--json").json()["pins"]
        assert sorted((p["mac"], p["hold"], p["version"]) for p in pins) == \
            [("18:FE:34:00:00:08", False, "1.0.0"), ("18:FE:34:00:00:09", True, None)], pins
        assert srv.cli("pin", "set", "door", "not-a-mac", "1.0.0").code == 2
        assert srv.cli("pin", "set", "door", MAC, "9.9.9").code == 1
        srv.start()
        data = img(302).read_bytes()
        resp = srv.send(devices.esp8266("/update/door", srv.port, Device(sta_mac=MAC, version="1.0.0")))
        assert_image(resp, data, "2.0.0", "the CLI's MAC-list group puts the device on beta")
        held = srv.send(devices.esp8266("/update/door", srv.port,
                                        Device(sta_mac="18:FE:34:00:00:09", version="0.1")))
        assert_not_modified(held, "the CLI's hold")
        dev = wait_until(lambda: (lambda r: r.code == 0 and r.json()["device"])(
            srv.cli("device", "show", "door", MAC, "--json")), what="device show")
        assert (dev["channel"], dev["target"], dev["known"]) == ("beta", "2.0.0", True), dev
        text = srv.cli_ok("device", "show", "door", MAC).stdout
        assert "beta" in text and "lab" in text, text
        srv.cli_ok("pin", "clear", "door", "18:FE:34:00:00:09")
        assert srv.cli("pin", "clear", "door", "18:FE:34:00:00:09").code == 1
        srv.cli_ok("group", "delete", "door", "lab")


def test_rollout_commands_and_product_fleet():
    with Server() as srv:
        door(srv)
        srv.cli_ok("channel", "set", "door", "stable", "--deploy", "manual")
        srv.add_release("door", img(303), "1.1.0")
        bad = srv.cli("rollout", "start", "door", "1.1.0", "--stages", "50,10")
        assert bad.code == 1 and "stages" in bad.stderr, bad.describe()
        r = srv.cli_ok("rollout", "start", "door", "1.1.0", "--stages", "1,10,100", "--soak", "30m",
                       "--ramp", "0", "--json").json()["rollout"]
        assert (r["version"], r["state"], r["stage"], r["actor"], r["plan"]["soak"]) == \
            ("1.1.0", "running", 1, "cli", "30m"), r
        rid = str(r["id"])
        srv.cli_ok("rollout", "pause", "door", rid, "--reason", "night")
        again = srv.cli("rollout", "pause", "door", rid)
        assert again.code == 1 and "paused" in again.stderr, again.describe()
        srv.cli_ok("rollout", "resume", "door", rid)
        st = srv.cli_ok("rollout", "promote", "door", rid, "--json").json()["rollout"]
        assert (st["stage"], st["admitted_percent"]) == (2, 10.0), st
        text = srv.cli_ok("rollout", "status", "door", rid).stdout
        assert "stage 2/3" in text and "next" in text, text
        srv.cli_ok("rollout", "tick")
        assert [x["id"] for x in srv.cli_ok("rollout", "list", "door", "--active", "--json").json()["rollouts"]] \
            == [r["id"]]
        srv.cli_ok("rollout", "abort", "door", rid)
        assert srv.cli_ok("rollout", "list", "door", "--active", "--json").json()["rollouts"] == []
        assert srv.cli("rollout", "status", "door", "abc").code == 2
        assert srv.cli("rollout", "status", "door", "99").code == 1
        f = srv.cli_ok("product", "fleet", "door", "--channel-query", "on", "--download-cap", "5",
                       "--json").json()["fleet"]
        assert f == {"channel_query": True, "group_query": False, "max_downloads": 5, "require_https": False}, f
        assert srv.cli("product", "fleet", "door", "--group-query", "maybe").code == 1
        helptext = srv.cli_ok("help").stdout
        for cmd in ("channel", "group", "pin", "rollout"):
            assert f"\n  {cmd} " in helptext, f"otad help does not list {cmd}: {helptext}"
