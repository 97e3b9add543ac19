"""The ESP-IDF check-in (docs/PROTOCOL.md, "ESP-IDF check-in"; docs/ESP-IDF.md) against the
real daemon: an esp_https_ota app sending exactly the snippet's headers (devices.py reads
them from docs/ESP-IDF.md) gets 304 when current, the image otherwise (200, HEAD, Range
206 with the clamped end, 416), a 302 to the image URL on ?answer=redirect, 403 for an
image of another chip or without app descriptor, and takes part in a staged rollout where
a ranged download counts once.

The images are ESP32 images with a real esp_app_desc_t after their first segment header and
the chip revisions in the extended header (mkimage.py's descriptor options), which otad
reads at publish."""

import hashlib
import time
import urllib.parse

from devices import IdfApp, IdfClient, idf_headers, idf_update
from harness import Server, assert_status, curl_publish, make_image, md5_hex, sha256_hex, wait_until

IMAGE_BYTES = 65_536           # four 16 KiB ranges, as reference §1.2.1 observed
REQUEST_BYTES = 16_384


def idf_image(version, *, seed=1, chip="esp32s3", secure_version=0, min_rev=0, max_rev=0,
              size=IMAGE_BYTES, descriptor=True):
    """An ESP-IDF app's ESP32 image (mkimage.py: esptool's headers, the app descriptor at the
    start of the first segment, the appended SHA-256), with an ELF SHA-256 of its own.
    Returns (path, bytes, elf_sha256 hex)."""
    elf = hashlib.sha256(f"elf-{version}-{seed}".encode()).hexdigest()
    if descriptor:
        path = make_image("esp32", size, seed=seed, chip=chip, hash_appended=True,
                          app_version=version, secure_version=secure_version, elf_sha256=elf,
                          min_chip_rev=min_rev, max_chip_rev=max_rev)
    else:
        path = make_image("esp32", size, seed=seed, chip=chip, hash_appended=True,
                          no_app_desc=True)
    return path, path.read_bytes(), elf


def app_for(elf_sha256, **kw):
    return IdfApp(elf_sha256=elf_sha256, **kw)


def published(srv, *releases):
    """Product idf (esp32) with RELEASES (version, image args) published in order; serving."""
    srv.add_product("idf", "esp32")
    out = {}
    for version, kw in releases:
        path, data, elf = idf_image(version, **kw)
        srv.add_release("idf", path, version)
        out[version] = (data, elf)
    srv.start()
    return out


def update_path(query=""):
    return "/update/idf" + query


def test_snippet_headers_are_the_documented_family():
    """The snippet sets every header docs/PROTOCOL.md's table names, and nothing else."""
    names = [n for n, _ in idf_headers(IdfApp())]
    assert names == ["x-ESP-IDF-MAC", "x-ESP-IDF-version", "x-ESP-IDF-elf-sha256", "x-ESP-IDF-chip",
                     "x-ESP-IDF-chip-revision", "x-ESP-IDF-secure-version",
                     "x-ESP-IDF-free-space"], names


def test_current_device_gets_304_to_head_and_get():
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2}))
        unpublished = "f" * 64  # a local build: no release has its ELF, its version places it
        for app in (app_for(unpublished, version="1.1.0"),          # by version
                    app_for(rel["1.1.0"][1], version="local"),      # by ELF SHA-256, which wins
                    app_for(rel["1.1.0"][1], version="1.1.0", elf_digits=64)):
            done = idf_update(srv.port, update_path(), app)
            # esp_https_ota: HEAD 304, then GET bytes=0-0, 304 too: "nothing new".
            assert done.status == 304, (app, done)
            assert [r[2] for r in done.requests] == [304, 304], done.requests
            assert done.requests[1][1] == "bytes=0-0", done.requests
        # The ELF SHA-256 wins over the version: 1.0.0's build saying "1.1.0" is updated.
        done = idf_update(srv.port, update_path(), app_for(rel["1.0.0"][1], version="1.1.0"))
        assert done.image == rel["1.1.0"][0], done


def test_behind_device_gets_the_image_whole_and_by_ranges():
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2}))
        new, _ = rel["1.1.0"]
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        client = IdfClient(srv.port, update_path(), app)
        try:
            resp, body = client.request("GET")
            assert resp.status == 200, (resp.status, body[:200])
            assert body == new
            assert resp.getheader("x-MD5") == md5_hex(new)
            assert resp.getheader("ETag") == f'"{sha256_hex(new)}"'
            assert resp.getheader("Accept-Ranges") == "bytes"
            assert resp.getheader("x-version") == "1.1.0"
            assert resp.getheader("Content-Length") == str(len(new))
            # HEAD: the same head, no body (http.client reads none for a HEAD).
            resp, body = client.request("HEAD")
            assert resp.status == 200 and body == b""
            assert resp.getheader("Content-Length") == str(len(new))
            assert resp.getheader("ETag") == f'"{sha256_hex(new)}"'
            assert resp.getheader("x-MD5") == md5_hex(new)
            # The first range asks one past the last byte: clamped, never 416.
            resp, body = client.request("GET", f"bytes=60000-{len(new)}")
            assert resp.status == 206, resp.status
            assert resp.getheader("Content-Range") == f"bytes 60000-{len(new) - 1}/{len(new)}"
            assert body == new[60000:]
            assert resp.getheader("x-MD5") is None, "a 206 carries no x-MD5"
            assert resp.getheader("ETag") == f'"{sha256_hex(new)}"'
            resp, body = client.request("GET", "bytes=0-0")
            assert resp.status == 206 and body == new[:1]
            # A start past the end: 416 with the size.
            resp, body = client.request("GET", f"bytes={len(new)}-")
            assert resp.status == 416, resp.status
            assert resp.getheader("Content-Range") == f"bytes */{len(new)}"
            # On one kept-alive connection throughout.
            assert client.connections == 1
        finally:
            client.close()

        # esp_https_ota's partial download end to end.
        done = idf_update(srv.port, update_path(), app, max_request=REQUEST_BYTES)
        assert done.status == 206 and done.image == new, done
        assert [(method, status) for method, _, status in done.requests] == [
            ("HEAD", 200), ("GET", 206), ("GET", 206), ("GET", 206), ("GET", 206)], done.requests
        assert [r[1] for r in done.requests[1:]] == [
            "bytes=0-16383", "bytes=16384-32767", "bytes=32768-49151", "bytes=49152-"], done.requests


OPEN_METRICS = ["--metrics-token", "none"]


def served_metric(srv):
    for line in srv.get("/metrics").body.decode().splitlines():
        if line.startswith("otad_images_served_total") and 'product="idf"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def wait_served(srv, want):
    """otad_images_served_total of idf once it is WANT (a body is counted when its last byte
    is out, just after the client has it)."""
    return wait_until(lambda: served_metric(srv) == want or None, what=f"{want} images served")


def test_ranged_download_is_one_checkin_and_one_image_served():
    with Server(args=OPEN_METRICS) as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2}))
        token = srv.token("read")
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        done = idf_update(srv.port, update_path(), app, max_request=REQUEST_BYTES)
        assert done.image == rel["1.1.0"][0] and len(done.requests) == 5, done

        def recorded(want):
            rows = srv.devices("idf", token)["devices"]
            return rows[0] if rows and rows[0]["checkins"] == want else None
        row = wait_until(lambda: recorded(1), what="the download as one check-in")
        assert row["mac"].upper() == "24:0A:C4:00:00:01" and row["version"] == "1.0.0", row
        assert row["last_status"] == 200 and row["last_offered_version"] == "1.1.0", row
        wait_served(srv, 1)
        # Rebooted on 1.1.0: HEAD 304 and GET bytes=0-0 304 are one check-in more.
        done = idf_update(srv.port, update_path(), app.but(version="1.1.0",
                                                          elf_sha256=rel["1.1.0"][1]))
        assert done.status == 304, done
        row = wait_until(lambda: recorded(2), what="the 304 round as one check-in")
        assert row["version"] == "1.1.0" and row["last_status"] == 304, row
        time.sleep(1.2)  # a flush interval more: no late record of the HEADs or ranges
        assert recorded(2), srv.devices("idf", token)
        assert served_metric(srv) == 1


def test_redirect_answer_points_at_the_image_url():
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0+b.7", {"seed": 2}))
        new, _ = rel["1.1.0+b.7"]
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        client = IdfClient(srv.port, update_path("?answer=redirect"), app)
        try:
            resp, body = client.request("GET")
        finally:
            client.close()
        assert resp.status == 302, (resp.status, body)
        location = resp.getheader("Location")
        assert location == f"http://127.0.0.1:{srv.port}/images/idf/1.1.0+b.7", location
        assert resp.getheader("x-version") == "1.1.0+b.7"
        target = urllib.parse.urlsplit(location)
        img = srv.get(urllib.parse.quote(target.path, safe="/"))
        assert_status(img, 200, "the image URL the 302 names")
        assert img.body == new
        # A current device is still 304; a word other than redirect is 400 naming it.
        current = IdfClient(srv.port, update_path("?answer=redirect"),
                            app.but(version="1.1.0+b.7", elf_sha256=rel["1.1.0+b.7"][1]))
        bad = IdfClient(srv.port, update_path("?answer=bytes"), app)
        try:
            assert current.request("GET")[0].status == 304
            resp, body = bad.request("GET")
            assert resp.status == 400 and b"answer" in body, (resp.status, body)
        finally:
            current.close()
            bad.close()


def test_wrong_chip_revision_and_no_descriptor_are_refused():
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2, "min_rev": 100}))
        old_elf = rel["1.0.0"][1]
        done = idf_update(srv.port, update_path(), app_for(old_elf, version="1.0.0", chip="esp32c3"))
        assert done.status == 403, done
        assert done.reason == "release 1.1.0 is built for ESP32-S3; the device is an ESP32-C3", done
        done = idf_update(srv.port, update_path(), app_for(old_elf, version="1.0.0", chip_revision=2))
        assert done.status == 403, done
        assert "chip revisions v1.0" in done.reason and "v0.2" in done.reason, done
        ok = idf_update(srv.port, update_path(), app_for(old_elf, version="1.0.0", chip_revision=101))
        assert ok.status == 206 and ok.image == rel["1.1.0"][0], ok
        # A malformed header: 400 naming it, before anything is decided.
        client = IdfClient(srv.port, update_path(), app_for(old_elf, chip="esp99"))
        try:
            resp, body = client.request("GET")
        finally:
            client.close()
        assert resp.status == 400 and body.startswith(b'x-ESP-IDF-chip "esp99" is not a chip'), body

    with Server() as srv:
        srv.add_product("idf", "esp32")
        path, _, _ = idf_image("1.0.0", seed=1)
        srv.add_release("idf", path, "1.0.0")
        path, _, _ = idf_image("1.1.0", seed=2, descriptor=False)
        srv.add_release("idf", path, "1.1.0")
        srv.start()
        done = idf_update(srv.port, update_path(), IdfApp(version="1.0.0"))
        assert done.status == 403, done
        assert "no app descriptor" in done.reason, done
        token = srv.token("read")

        def warned():
            p = srv.api("GET", "/api/v1/products/idf", token).json()["product"]
            return p if p["delivery_warnings"] else None
        (warning,) = wait_until(warned, what="the product's delivery warning")["delivery_warnings"]
        assert warning["code"] == "no_app_descriptor" and warning["devices"] == 1, warning


FAST = ["--rollout-deadline-margin-ms", "2000", "--interval-min-gap-ms", "1000",
        "--rollout-tick-ms", "250"]
INTERVAL_S = 2.0


def test_staged_rollout_updates_idf_devices_counted_once():
    """Twenty IDF devices on 1.0.0, a rollout of 1.1.0 in stages 25,100 with a 3 s soak:
    each offered device downloads in four ranges, reboots onto 1.1.0 and reports it; the
    rollout completes with every device served once and succeeded."""
    with Server(args=FAST + OPEN_METRICS) as srv:
        srv.add_product("idf", "esp32")
        path, old, old_elf = idf_image("1.0.0", seed=1)
        srv.add_release("idf", path, "1.0.0")
        srv.cli_ok("channel", "set", "idf", "stable", "--deploy", "manual")
        path, new, new_elf = idf_image("1.1.0", seed=2)
        srv.add_release("idf", path, "1.1.0")
        srv.start()
        token = srv.token("read")
        devices = [{"app": IdfApp(mac=bytes([0x24, 0x0A, 0xC4, 0, 0, n]), version="1.0.0",
                                  elf_sha256=old_elf), "next": 0.0, "downloads": 0}
                   for n in range(1, 21)]

        def turn():
            now = time.monotonic()
            for d in devices:
                if d["next"] > now:
                    continue
                done = idf_update(srv.port, update_path(), d["app"], max_request=REQUEST_BYTES)
                d["next"] = time.monotonic() + INTERVAL_S
                if done.status == 304:
                    continue
                assert done.image == new, done
                d["downloads"] += 1
                # esp_https_ota_finish checked it; the app restarts on it and confirms it.
                d["app"] = d["app"].but(version="1.1.0", elf_sha256=new_elf)
                d["next"] = time.monotonic() + 0.3

        until = time.monotonic() + 2 * INTERVAL_S
        while time.monotonic() < until:
            turn()
            time.sleep(0.05)
        r = srv.cli_ok("rollout", "start", "idf", "1.1.0", "--stages", "25,100", "--soak", "3s",
                       "--ramp", "0", "--interval", "2s", "--json")
        rid = r.json()["rollout"]["id"]
        started = time.monotonic()
        ro = None
        while time.monotonic() - started < 60:
            turn()
            ro = srv.api("GET", f"/api/v1/products/idf/rollouts/{rid}", token).json()["rollout"]
            if ro["state"] != "running":
                break
            time.sleep(0.05)
        assert ro["state"] == "completed", ro
        assert all(d["app"].version == "1.1.0" for d in devices), devices
        assert all(d["downloads"] == 1 for d in devices), [d["downloads"] for d in devices]
        c = ro["counters"]
        assert c["offered"] == c["succeeded"] == 20, c
        assert c["failed"] == 0 and c["silent"] == 0 and c["interrupted"] == 0, c

        # The registry: each device once, on 1.1.0; a download of a HEAD and four ranges and
        # each 304 round of a HEAD and a bytes=0-0 GET count one check-in each.
        def listed():
            rows = srv.devices("idf", token, "?limit=100")["devices"]
            return rows if len(rows) == 20 and all(
                row.get("version") == "1.1.0" for row in rows) else None
        rows = wait_until(listed, what="twenty IDF devices on 1.1.0")
        wait_served(srv, 20)
        # Each device's rounds were recorded, never its HEADs or later ranges: at most one
        # check-in per round of INTERVAL_S (and the download's reboot) since the start.
        rounds = (time.monotonic() - started + 2 * INTERVAL_S) / INTERVAL_S + 2
        assert all(1 <= row["checkins"] <= rounds for row in rows), (rounds, rows)


def test_redirect_offer_is_recorded_for_the_rollout():
    """?answer=redirect in a rollout: the 302 is the offer (counted offered), the image URL's
    download is not the rollout's, and the device's next check-in on the offered release
    makes it succeeded."""
    with Server(args=FAST) as srv:
        srv.add_product("idf", "esp32")
        path, _, old_elf = idf_image("1.0.0", seed=1)
        srv.add_release("idf", path, "1.0.0")
        srv.cli_ok("channel", "set", "idf", "stable", "--deploy", "manual")
        path, new, new_elf = idf_image("1.1.0", seed=2)
        srv.add_release("idf", path, "1.1.0")
        srv.start()
        token = srv.token("read")
        app = IdfApp(version="1.0.0", elf_sha256=old_elf)
        rid = srv.cli_ok("rollout", "start", "idf", "1.1.0", "--stages", "100", "--soak", "1s",
                         "--ramp", "0", "--interval", "2s", "--json").json()["rollout"]["id"]

        def counters(**want):
            def check():
                c = srv.api("GET", f"/api/v1/products/idf/rollouts/{rid}",
                            token).json()["rollout"]["counters"]
                return c if all(c[k] == v for k, v in want.items()) else None
            return wait_until(check, what=f"rollout counters {want}")

        client = IdfClient(srv.port, update_path("?answer=redirect"), app)
        try:
            resp, _ = wait_until(lambda: (lambda r: r if r[0].status == 302 else None)(
                client.request("GET")), what="the rollout's offer as a 302")
        finally:
            client.close()
        counters(offered=1, served=0, succeeded=0)
        img = srv.get(urllib.parse.urlsplit(resp.getheader("Location")).path)
        assert_status(img, 200, "the image URL the 302 names")
        assert img.body == new
        # Rebooted on 1.1.0: its next check-in decides the outcome.
        done = idf_update(srv.port, update_path("?answer=redirect"),
                          app.but(version="1.1.0", elf_sha256=new_elf))
        assert done.status == 304, done
        counters(offered=1, succeeded=1, failed=0)


def test_a_download_in_ranges_stays_one_image_across_a_publish():
    """A release published between two ranges of esp_https_ota's partial download: the rest of
    the download comes from the image it began on, never spliced from the new one
    (docs/PROTOCOL.md, "ESP-IDF check-in"); the next download gets the new release whole."""
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 31}), ("1.1.0", {"seed": 32}))
        first, _ = rel["1.1.0"]
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        token = srv.token("publish")
        client = IdfClient(srv.port, update_path(), app)
        try:
            resp, head = client.request("GET", f"bytes=0-{REQUEST_BYTES - 1}")
            assert resp.status == 206 and head == first[:REQUEST_BYTES], resp.status
            path, newer, _ = idf_image("1.2.0", seed=33)
            r = curl_publish(srv, "idf", path, token, version="1.2.0")
            assert r.status == 201, r.describe()
            another = app.but(mac=bytes([0x24, 0x0A, 0xC4, 0x00, 0x00, 0x02]))
            other = IdfClient(srv.port, update_path(), another)
            try:  # a download that begins now gets the new release
                wait_until(lambda: other.request("HEAD")[0].getheader("x-version") == "1.2.0",
                           10, 0.1, "1.2.0 offered to a new download")
            finally:
                other.close()
            rest = bytearray(head)
            while len(rest) < len(first):
                resp, body = client.request("GET", f"bytes={len(rest)}-{len(rest) + REQUEST_BYTES - 1}")
                assert resp.status == 206, (resp.status, body[:200])
                assert resp.getheader("ETag") == f'"{sha256_hex(first)}"', resp.getheader("ETag")
                assert resp.getheader("x-version") == "1.1.0"
                rest += body
            assert bytes(rest) == first, "the download was spliced from two images"
        finally:
            client.close()
        done = idf_update(srv.port, update_path(), app, max_request=REQUEST_BYTES)
        assert done.image == newer, done
