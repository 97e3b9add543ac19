"""The device list at a million devices (docs/API.md, "Devices"): a data
folder's registry is filled with 1,000,000 rows before otad starts, then
the first page, the last page, a page in the middle by `after=`, a page
before a MAC, and filtered pages (a version, a MAC prefix) are timed over
HTTP, several runs each. Every page is one index walk that stops at the
page, so none may cost much more than the first: each median must stay
within 10x the first page's plus 50 ms (a generous bound on a shared
machine: an OFFSET or a scan of the product would take seconds). The
figures are printed for the issue's note. The query plans themselves are
checked deterministically by tests/unit/db/test_db_sqlite_devices.c."""

import sqlite3
import statistics
import time

from harness import Server, wait_until

DEVICES = 1_000_000
RUNS = 7
BASE_MAC = 0x18FE34000000
VERSIONS = [f"1.{v}.0" for v in range(10)]


def fill(srv, product_id, now_ms):
    """DEVICES rows in one transaction: MACs BASE_MAC + 0..N-1, versions round-robin."""
    if srv.database_url:
        started = time.monotonic()
        srv.sql("INSERT INTO devices (product_id, mac, version, mode, first_seen_ms, last_seen_ms, last_status, "
                "checkins, channel, interval_ms, intervals) "
                f"SELECT {product_id}, {BASE_MAC} + i, '1.' || (i % 10) || '.0', 'sketch', {now_ms - 86400_000}, "
                f"{now_ms} - (i % 3600) * 1000, 304, 1, 'stable', 3600000, 1 FROM generate_series(0, {DEVICES - 1}) i")
        srv.sql("ANALYZE devices")
        return time.monotonic() - started
    db = sqlite3.connect(srv.data_dir / "otad.db")
    db.execute("PRAGMA synchronous = OFF")
    started = time.monotonic()
    with db:
        db.executemany(
            "INSERT INTO devices (product_id, mac, version, mode, first_seen_ms, last_seen_ms, last_status, "
            "checkins, channel, interval_ms, intervals) VALUES (?, ?, ?, 'sketch', ?, ?, 304, 1, 'stable', ?, 1)",
            ((product_id, BASE_MAC + i, VERSIONS[i % 10], now_ms - 86400_000, now_ms - (i % 3600) * 1000,
              3600_000) for i in range(DEVICES)))
    took = time.monotonic() - started
    db.close()
    return took


def mac_text(n):
    return ":".join(f"{(n >> s) & 0xFF:02X}" for s in range(40, -8, -8))


def test_pages_cost_the_same_at_a_million_devices():
    with Server() as srv:
        srv.add_product("door", "esp8266")
        token = srv.token("read")
        product_id = srv.sql("SELECT id FROM products WHERE name = 'door'")[0][0]
        took = fill(srv, product_id, int(time.time() * 1000))
        print(f"filled {DEVICES} devices in {took:.1f} s")  # a figure for the note, not a test
        srv.start()

        def get(query):
            r = srv.api("GET", f"/api/v1/products/door/devices{query}", token, timeout=60)
            assert r.status == 200, f"{query}: {r.describe()}"
            return r.json()

        # The dashboard's first count of the million (its own thread): then totals come from memory.
        overview = wait_until(lambda: (lambda o: o if o["products"][0]["devices"] == DEVICES else None)(
            srv.api("GET", "/api/v1/overview", token, timeout=60).json()), timeout=60, interval=0.5,
            what="the overview to count a million devices")
        assert len(overview["products"][0]["versions"]) == 10, overview

        middle = BASE_MAC + DEVICES // 2
        prefix = f"{(BASE_MAC + 700_000) >> 12:09x}"  # 4096 MACs from device 700,000 on (rounded down)
        shapes = {
            "first": ("?limit=50", lambda p: p["devices"][0]["mac"] == mac_text(BASE_MAC)
                      and p["has_next"] and not p["has_prev"] and p["total"] == DEVICES and p["total_estimated"]),
            "last": ("?limit=50&last=1", lambda p: p["devices"][-1]["mac"] == mac_text(BASE_MAC + DEVICES - 1)
                     and p["has_prev"] and not p["has_next"]),
            "middle (after)": (f"?limit=50&after={mac_text(middle)}",
                               lambda p: p["devices"][0]["mac"] == mac_text(middle + 1) and p["has_prev"]
                               and p["has_next"]),
            "middle (before)": (f"?limit=50&before={mac_text(middle)}",
                                lambda p: p["devices"][-1]["mac"] == mac_text(middle - 1) and p["has_prev"]),
            "version": ("?limit=50&version=1.7.0",
                        lambda p: len(p["devices"]) == 50 and all(d["version"] == "1.7.0" for d in p["devices"])
                        and p["total"] is None),
            "version, last page": ("?limit=50&version=1.7.0&last=1",
                                   lambda p: p["devices"][-1]["mac"] == mac_text(BASE_MAC + DEVICES - 3)),
            "version, middle": (f"?limit=50&version=1.3.0&after={mac_text(middle)}",
                                lambda p: all(d["version"] == "1.3.0" for d in p["devices"])
                                and len(p["devices"]) == 50),
            "q prefix": (f"?limit=50&q={prefix}",
                         lambda p: len(p["devices"]) == 50 and all(
                             d["mac"].replace(":", "").lower().startswith(prefix) for d in p["devices"])),
        }
        medians = {}
        for name, (query, check) in shapes.items():
            page = get(query)
            assert check(page), f"{name} ({query}): {str(page)[:600]}"
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                get(query)
                times.append(time.perf_counter() - started)
            medians[name] = statistics.median(times)
        width = max(len(n) for n in medians)
        print(f"device pages at {DEVICES} devices, median of {RUNS} over HTTP:")
        for name, median in medians.items():
            print(f"  {name:<{width}}  {median * 1000:7.2f} ms")
        # Filters no index answers walk at most LIMIT_DEVICE_PAGE_SCAN (20,000) devices a page, even
        # when nothing matches: the page then says where the walk stopped, and the next one goes on.
        scan = 20_000
        walked = {
            "quiet=1 (none quiet)": ("?limit=50&quiet=1", "next_after", mac_text(BASE_MAC + scan - 1)),
            "q version part (no match)": ("?limit=50&q=9.9", "next_after", mac_text(BASE_MAC + scan - 1)),
            "quiet=1, last page": ("?limit=50&quiet=1&last=1", "prev_before",
                                   mac_text(BASE_MAC + DEVICES - scan)),
        }
        for name, (query, cursor, where) in walked.items():
            page = get(query)
            assert page["devices"] == [] and page[cursor] == where, f"{name}: {str(page)[:300]}"
            assert page["has_next" if cursor == "next_after" else "has_prev"], page
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                get(query)
                times.append(time.perf_counter() - started)
            medians[name] = statistics.median(times)
            print(f"  {name:<{width}}  {medians[name] * 1000:7.2f} ms (walks {scan} devices)")
        # The walk goes on from where it stopped, and ends at the last device.
        page = get(f"?limit=50&quiet=1&after={mac_text(BASE_MAC + DEVICES - 100)}")
        assert page["devices"] == [] and not page["has_next"] and page["next_after"] is None, page
        bound = 10 * medians["first"] + 0.050
        slow = {n: m for n, m in medians.items() if m > bound}
        assert not slow, f"pages above 10x the first + 50 ms ({bound * 1000:.1f} ms): {slow}"
