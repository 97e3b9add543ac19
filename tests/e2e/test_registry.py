"""The device registry: every check-in with an STA MAC is recorded per
(product, STA MAC) with what the device reported (docs/reference/stock-clients.md §2) and
what we answered. Check-ins are committed in batches at least once a
second, so every read here polls for up to 5 s."""

import contextlib
import threading
import time

import devices
from devices import Device
from harness import Server, assert_status, make_image, md5_hex, wait_until


@contextlib.contextmanager
def registry_server():
    """Product 'door' with releases 1.0.0 and 1.1.0; yields (srv, read_token, {version: bytes})."""
    with Server() as srv:
        srv.add_product("door", "esp8266")
        data = {}
        for i, version in enumerate(("1.0.0", "1.1.0")):
            path = make_image("esp8266", 150_000, seed=50 + i, flash_size="4M")
            srv.add_release("door", path, version)
            data[version] = path.read_bytes()
        token = srv.token("read")
        srv.start()
        yield srv, token, data


def device_n(n, version="1.0.0", md5="0" * 32):
    return Device(sta_mac=devices.mac(n), ap_mac=devices.mac(n, "1A:FE:AA"), chip_id=1000 + n,
                  free_space=1044480 - n, sketch_size=300000 + 16 * n, sketch_md5=md5,
                  chip_size=4194304, sdk_version="2.2.2-dev(38a443e)", version=version)


def wait_devices(srv, token, total, query=""):
    def enough():
        listing = srv.devices("door", token, query)
        return listing if listing.get("total") == total else None
    return wait_until(enough, what=f"{total} devices in the registry")


def by_mac(listing):
    return {d["mac"].upper(): d for d in listing["devices"]}


def test_distinct_macs_are_listed_with_reported_fields():
    n = 5
    with registry_server() as (srv, token, _):
        for i in range(n):
            resp = srv.send(devices.esp8266("/update/door", srv.port, device_n(i), core="3.1"))
            assert_status(resp, 200, f"check-in {i}")
        listing = wait_devices(srv, token, n)
        found = by_mac(listing)
        assert sorted(found) == sorted(devices.mac(i) for i in range(n)), f"MACs listed: {sorted(found)}"
        for i in range(n):
            d, want = found[devices.mac(i)], device_n(i)
            expect = {
                "ap_mac": want.ap_mac, "chip_id": want.chip_id, "sdk_version": want.sdk_version,
                "sketch_size": want.sketch_size, "sketch_md5": want.sketch_md5,
                "free_space": want.free_space, "chip_size": want.chip_size, "version": "1.0.0",
                "mode": "sketch", "user_agent": "ESP8266-http-Update", "remote_addr": "127.0.0.1",
                "last_status": 200, "last_offered_version": "1.1.0", "checkins": 1,
            }
            got = {k: d.get(k) for k in expect}
            if isinstance(got["ap_mac"], str):
                got["ap_mac"] = got["ap_mac"].upper()
            if isinstance(got["chip_id"], str) and got["chip_id"].isdigit():
                got["chip_id"] = int(got["chip_id"])
            diff = {k: (got[k], v) for k, v in expect.items() if got[k] != v}
            assert not diff, f"device {devices.mac(i)}: fields (got, expected) {diff}"
            for key in ("first_seen", "last_seen"):
                assert d.get(key), f"device {devices.mac(i)} lacks {key}: {d}"


def test_repeated_mac_updates_last_seen_and_checkins():
    with registry_server() as (srv, token, data):
        dev = device_n(7)
        assert_status(srv.send(devices.esp8266("/update/door", srv.port, dev)), 200, "first check-in")
        first = by_mac(wait_devices(srv, token, 1))[devices.mac(7)]
        time.sleep(1.1)   # let the clock move past a one-second timestamp resolution
        now_current = dev.but(version="1.1.0", sketch_md5=md5_hex(data["1.1.0"]))
        assert_status(srv.send(devices.esp8266("/update/door", srv.port, now_current)), 304, "second check-in")

        def updated():
            d = by_mac(srv.devices("door", token))[devices.mac(7)]
            return d if d.get("checkins") == 2 else None
        second = wait_until(updated, what="checkins == 2")
        assert srv.devices("door", token)["total"] == 1, "a repeated MAC must not add a device"
        assert second["first_seen"] == first["first_seen"], f"first_seen changed: {first} -> {second}"
        assert second["last_seen"] > first["last_seen"], f"last_seen not advanced: {first['last_seen']} -> {second['last_seen']}"
        assert second["version"] == "1.1.0" and second["last_status"] == 304, f"not updated: {second}"


def test_refusals_are_recorded_with_their_status():
    with registry_server() as (srv, token, _):
        small = device_n(9).but(free_space=4096)
        assert_status(srv.send(devices.esp8266("/update/door", srv.port, small)), 403, "no space")
        d = by_mac(wait_devices(srv, token, 1))[devices.mac(9)]
        assert d["last_status"] == 403, f"last_status of a refused check-in: {d}"


def test_esp32_checkin_is_recorded():
    with Server() as srv:
        srv.add_product("door32", "esp32")
        srv.add_release("door32", make_image("esp32", 150_000, seed=60), "1.0.0")
        token = srv.token("read")
        srv.start()
        dev = Device(sta_mac="24:0A:C4:A3:15:3C", ap_mac="24:0A:C4:A3:15:3D", version="1.0.0",
                     sketch_md5="0" * 32, sdk_version="v4.4.5")
        srv.send(devices.esp32("/update/door32", srv.port, dev))

        def listed():
            rows = srv.devices("door32", token)["devices"]
            return rows[0] if rows else None
        d = wait_until(listed, what="the ESP32 device")
        assert d["mac"].upper() == "24:0A:C4:A3:15:3C", d
        assert d["user_agent"] == "ESP32-http-Update" and d["sdk_version"] == "v4.4.5", d


def test_devices_are_paged():
    n = 5
    with registry_server() as (srv, token, _):
        for i in range(n):
            srv.send(devices.esp8266("/update/door", srv.port, device_n(100 + i)))
        wait_devices(srv, token, n)
        pages = [srv.devices("door", token, f"?limit=2&offset={off}") for off in (0, 2, 4)]
        sizes = [len(p["devices"]) for p in pages]
        assert sizes == [2, 2, 1], f"limit=2 pages: {sizes}"
        assert all(p["total"] == n for p in pages), f"total on every page: {[p['total'] for p in pages]}"
        macs = [d["mac"].upper() for p in pages for d in p["devices"]]
        assert sorted(macs) == sorted(devices.mac(100 + i) for i in range(n)), f"pages overlap or miss: {macs}"


def test_checkin_without_mac_is_not_recorded():
    with registry_server() as (srv, token, _):
        srv.send(devices.http_client_get("/update/door", srv.port))
        srv.send(devices.esp8266("/update/door", srv.port, device_n(1)))
        listing = wait_devices(srv, token, 1)
        time.sleep(1.2)   # one more flush interval: the MAC-less check-in must not appear late
        listing = srv.devices("door", token)
        assert listing["total"] == 1, f"a check-in without STA MAC was recorded: {listing}"


def test_cli_device_list():
    with registry_server() as (srv, token, _):
        srv.send(devices.esp8266("/update/door", srv.port, device_n(3)))
        wait_devices(srv, token, 1)
        r = srv.cli_ok("device", "list", "door", "--json")
        assert devices.mac(3).lower() in r.stdout.lower(), f"device list --json lacks the MAC: {r.describe()}"


def test_concurrent_checkins_are_all_recorded():
    n = 40
    with registry_server() as (srv, token, _):
        statuses = [None] * n

        def one(i):
            statuses[i] = srv.send(devices.esp8266("/update/door", srv.port, device_n(1000 + i))).status
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert statuses == [200] * n, f"concurrent check-in statuses: {statuses}"
        listing = wait_devices(srv, token, n, "?limit=1000")
        assert len(listing["devices"]) == n, f"listed {len(listing['devices'])} of {n}"


def test_mac_case_does_not_split_a_device():
    # The key is the MAC, not its spelling: lower- and upper-case check-ins are one device.
    with registry_server() as (srv, token, _):
        for spelling in ("18:fe:aa:00:00:2a", "18:FE:AA:00:00:2A"):
            srv.send(devices.esp8266("/update/door", srv.port, device_n(42).but(sta_mac=spelling)))

        def counted_twice():
            listing = srv.devices("door", token)
            return listing if listing["devices"] and listing["devices"][0].get("checkins") == 2 else None
        listing = wait_until(counted_twice, what="one device with two check-ins")
        assert listing["total"] == 1, f"MAC spelling split the device: {listing}"


def test_same_mac_on_two_products_is_two_entries():
    with registry_server() as (srv, token, _):
        srv.add_product("gate", "esp8266")
        srv.add_release("gate", make_image("esp8266", 64_000, seed=61), "1.0.0")
        req = devices.esp8266("/update/gate", srv.port, device_n(5, version="0.9.0"))
        srv.wait_release_visible("gate", "1.0.0", req)
        srv.send(devices.esp8266("/update/door", srv.port, device_n(5, version="0.9.0")))
        wait_devices(srv, token, 1)
        gate = wait_until(lambda: srv.devices("gate", token)["devices"], what="the device under gate")
        assert gate[0]["mac"].upper() == devices.mac(5) and gate[0]["last_offered_version"] == "1.0.0", gate


def test_spoofed_macs_past_the_limit_stop_adding_rows():
    # One address (127.0.0.1) spoofs MACs past registry_new_devices_per_ip_per_minute:
    # every check-in still gets its correct answer, rows stop growing at the limit, the
    # limit is logged once (not per request), and a known device keeps being recorded.
    limit = 12
    with Server(args=["--registry-new-devices-per-ip-per-minute", str(limit)]) as srv:
        srv.add_product("door", "esp8266")
        image = make_image("esp8266", 150_000, seed=70, flash_size="4M")
        srv.add_release("door", image, "1.1.0")
        data = image.read_bytes()
        token = srv.token("read")
        srv.start()
        known = device_n(500)
        assert_status(srv.send(devices.esp8266("/update/door", srv.port, known)), 200, "known device")
        wait_devices(srv, token, 1)

        for burst in range(2):
            for i in range(2 * limit):
                resp = srv.send(devices.esp8266("/update/door", srv.port, device_n(1000 * burst + i)))
                assert_status(resp, 200, f"spoofed MAC {i} of burst {burst}")
                assert resp.body == data and resp.header("x-MD5") == md5_hex(data), \
                    f"spoofed MAC {i} of burst {burst} did not get the update: {resp.describe()}"
            # The known device's check-in is committed with or after everything sent before it.
            assert_status(srv.send(devices.esp8266("/update/door", srv.port, known)), 200, "known again")

            def known_recorded(want=burst + 2):
                d = by_mac(srv.devices("door", token, "?limit=1000")).get(devices.mac(500))
                return d if d and d["checkins"] == want else None
            wait_until(known_recorded, what=f"the known device's check-in {burst + 2}")
            listing = srv.devices("door", token, "?limit=1000")
            assert listing["total"] == limit, \
                f"burst {burst}: {listing['total']} devices, want {limit} (the known one + {limit - 1} spoofed)"
        log = srv.log()
        assert log.count("not recording") == 1, f"the limit must be logged once a minute: {log}"
        assert "registry_new_devices_per_ip_per_minute" in log and '"127.0.0.1"' in log, log
