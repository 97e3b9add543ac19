"""Time that moves faster, against the real daemon (docs/FLEET.md, "Time that
moves faster"): with the deadline margin, the shortest interval and the
controller's pass at seconds (the rollout_deadline_margin_ms,
interval_min_gap_ms and rollout_tick_ms settings), a rollout of the plan
`stages=10,50,100 soak=5s ramp=0 interval=2s` moves through its stages in
seconds, and devices that brick after their download are marked silent,
and halt it, within seconds.

The fleet is a loop of stock ESP8266 check-ins (devices.py) over raw
sockets, every 2 s with jitter: a device offered an image reads it whole,
reboots half a second later and reports the version it was given, or,
when the release bricks it, is never heard from again. The operator's
side is the CLI on the same data folder and the rollout's JSON from the
API."""

import random
import time

from devices import Device, esp8266, mac
from harness import Server, make_image, md5_hex

FAST = ["--rollout-deadline-margin-ms", "2000", "--interval-min-gap-ms", "1000",
        "--rollout-tick-ms", "250"]
PLAN = ["--stages", "10,50,100", "--soak", "5s", "--ramp", "0", "--interval", "2s"]
INTERVAL_S = 2.0
REBOOT_S = 0.5
IMAGE = 64 * 1024


class FastFleet:
    """COUNT devices on 1.0.0 checking in every INTERVAL_S (+-10 %); BRICKED(n) says which
    ones a new release bricks."""

    def __init__(self, srv, count, bricked=lambda n: False):
        self.srv = srv
        self.rng = random.Random(14)
        now = time.monotonic()
        self.devices = [{"n": n, "version": "1.0.0", "md5": md5_hex(f"old-{n}".encode()),
                         "next": now + self.rng.uniform(0, INTERVAL_S), "dead": False,
                         "bricks": bricked(n)} for n in range(1, count + 1)]
        self.served = {}  # device number -> when its image was read whole
        self.statuses = {}

    def turn(self):
        """Every device that is due checks in once, and does what its answer says."""
        now = time.monotonic()
        for d in self.devices:
            if d["dead"] or d["next"] > now:
                continue
            dev = Device(sta_mac=mac(d["n"]), version=d["version"], sketch_md5=d["md5"],
                         free_space=8 * 1024 * 1024)
            r = self.srv.send(esp8266("/update/demo", self.srv.port, dev))
            self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            d["next"] = time.monotonic() + INTERVAL_S * self.rng.uniform(0.9, 1.1)
            if r.status != 200:
                continue
            assert len(r.body) == IMAGE and md5_hex(r.body) == r.header("x-MD5"), r.describe()
            self.served[d["n"]] = time.monotonic()
            if d["bricks"]:
                d["dead"] = True  # never checks in again
                continue
            d["version"] = r.header("x-version")
            d["md5"] = r.header("x-MD5")
            d["next"] = time.monotonic() + REBOOT_S

    def on(self, version):
        return sum(1 for d in self.devices if d["version"] == version)


def fast_server(srv, *plan):
    """Product demo with 1.0.0 deployed, a manual channel, 1.1.0 published; serving."""
    srv.add_product("demo")
    srv.add_release("demo", make_image("esp8266", IMAGE, seed=1, flash_size="4M"), "1.0.0")
    srv.cli_ok("channel", "set", "demo", "stable", "--deploy", "manual")
    srv.add_release("demo", make_image("esp8266", IMAGE, seed=2, flash_size="4M"), "1.1.0")
    srv.start()
    return srv.token("read", "fleet-time")


def rollout_json(srv, token, rollout_id):
    r = srv.api("GET", f"/api/v1/products/demo/rollouts/{rollout_id}", token)
    assert r.status == 200, r.describe()
    return r.json()["rollout"]


def start_rollout(srv, *plan):
    r = srv.cli_ok("rollout", "start", "demo", "1.1.0", *plan, "--json")
    return r.json()["rollout"]["id"]


def test_fast_plan_moves_through_its_stages_in_seconds():
    with Server(args=FAST) as srv:
        token = fast_server(srv)
        fleet = FastFleet(srv, 100)
        # A few rounds on 1.0.0 first (answered 304): the fleet is known, its intervals learned.
        until = time.monotonic() + 3 * INTERVAL_S
        while time.monotonic() < until:
            fleet.turn()
            time.sleep(0.05)
        assert set(fleet.statuses) == {304}, fleet.statuses
        rid = start_rollout(srv, *PLAN)
        started = time.monotonic()
        moves = []  # (seconds since the start, stage, state) at each change seen
        seen = (1, "running")
        last_poll = 0.0
        ro = None
        while time.monotonic() - started < 60:
            fleet.turn()
            if time.monotonic() - last_poll >= 0.25:
                last_poll = time.monotonic()
                ro = rollout_json(srv, token, rid)
                now_seen = (ro["stage"], ro["state"])
                if now_seen != seen:
                    moves.append((round(last_poll - started, 2),) + now_seen)
                    seen = now_seen
                if ro["state"] != "running":
                    break
            time.sleep(0.02)
        assert ro["state"] == "completed", (ro, moves)
        assert [m[1:] for m in moves] == [(2, "running"), (3, "running"), (3, "completed")], moves
        # Each stage soaked its 5 s, and none waited minutes past it: the plan set the pace (seen
        # by polls 0.25 s apart, so a gap may look up to a poll shorter than it was). The upper
        # bounds only tell seconds from the default minutes, with room for a loaded CI machine.
        times = [0.0] + [m[0] for m in moves]
        for a, b in zip(times, times[1:]):
            assert 4.7 <= b - a <= 30.0, moves
        assert times[-1] <= 90.0, moves
        assert fleet.on("1.1.0") == 100, fleet.on("1.1.0")
        c = ro["counters"]
        assert c["failed"] == 0 and c["silent"] == 0, c
        assert c["succeeded"] == c["offered"] == 100, c
        # The CLI tells the same story.
        shown = srv.cli_ok("rollout", "status", "demo", str(rid)).stdout
        assert "completed" in shown and "succeeded 100" in shown, shown


def test_bricked_devices_are_silent_within_seconds():
    with Server(args=FAST) as srv:
        token = fast_server(srv)
        fleet = FastFleet(srv, 100, bricked=lambda n: n % 10 < 3)
        until = time.monotonic() + 3 * INTERVAL_S
        while time.monotonic() < until:
            fleet.turn()
            time.sleep(0.05)
        # A first stage of half the fleet (about 15 bricked devices in it) that cannot be
        # promoted while any of them is not back: the soak (5 s) ends before the first deadline
        # (7.4 s), and a 10 % stage that happened to draw one bricked device among eleven good
        # ones was promoted before its silence was seen (halted in stage 2 on a loaded run).
        rid = start_rollout(srv, "--stages", "50,100", "--soak", "5s", "--ramp", "0",
                            "--interval", "2s", "--min-served", "3", "--promote-percent", "100")
        started = time.monotonic()
        ro = None
        while time.monotonic() - started < 45:
            fleet.turn()
            ro = rollout_json(srv, token, rid)
            if ro["state"] != "running":
                break
            time.sleep(0.05)
        halted_at = time.monotonic()
        halted_after = halted_at - started
        assert ro["state"] == "halted", ro
        assert ro["stage"] == 1, ro
        assert "silent" in ro["reason"], ro
        c = ro["counters"]
        bricked_served = [n for n in fleet.served if fleet.devices[n - 1]["bricks"]]
        assert 1 <= c["silent"] <= len(bricked_served), (c, bricked_served)
        assert c["failed"] == 0, c
        # Silent no sooner than its deadline (3 intervals of about 2 s, jitter 10 %, + 2 s after
        # served: 7.4 s at least) and not much later: seconds, where the default margin alone is
        # 5 minutes (the bound has room for a loaded CI machine).
        first_served = min(fleet.served[n] for n in bricked_served)
        assert halted_at - first_served >= 6.5, (c, halted_at - first_served)
        assert halted_after <= 60.0, (c, halted_after)
        # A halted rollout offers nothing more.
        offered = len(fleet.served)
        until = time.monotonic() + 2 * INTERVAL_S
        while time.monotonic() < until:
            fleet.turn()
            time.sleep(0.05)
        assert len(fleet.served) == offered
