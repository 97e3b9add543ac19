"""The anti-rollback budget (docs/SECURITY.md, "Anti-rollback") against the real daemon: an
ESP-IDF device whose x-ESP-IDF-secure-version says 3 (the documented snippet's headers,
devices.py) is refused the release with secure_version 2 (403, below_secure_version in the
device JSON with its secure_version) and offered the one with 3; a publish that raises
secure_version is refused without the explicit flag (409 secure_version_bump, with from,
to and the bumps the chip's eFuse field has left) and accepted with it, the same figures as
a warning, over the API (curl) and over the CLI, each in the audit log.

Needs the appdesc part of issue 15 (the descriptor's secure_version read at publish) and
the idfcheckin part (the x-ESP-IDF-* headers). Runs on SQLite and, in e2e-pg, on
PostgreSQL."""

from devices import IdfApp, idf_update
from harness import Server, assert_api_error, curl_publish, wait_until
from test_idf_checkin import idf_image

MAC = bytes([0x24, 0x0A, 0xC4, 0x00, 0x00, 0x33])
MAC_TEXT = "24:0A:C4:00:00:33"


def api_message(r):
    return (r.json().get("error") or {}).get("message") or ""


def device_json(srv, token):
    """The device's JSON once the registry committed its last check-in, else None."""
    for d in srv.devices("idf", token)["devices"]:
        if d["mac"].upper() == MAC_TEXT:
            return d
    return None


def test_device_on_3_is_refused_2_and_offered_3_and_bumps_need_the_flag():
    two, two_bytes, _ = idf_image("1.0.0", seed=901, secure_version=2)     # ESP32-S3: 16 bits
    three, three_bytes, _ = idf_image("1.1.0", seed=902, secure_version=3)
    with Server() as srv:
        srv.add_product("idf", "esp32")
        token = srv.token("admin")
        srv.start()

        # API: 2 over no earlier release is a bump: refused without the flag, with the figures.
        r = curl_publish(srv, "idf", two, token, version="1.0.0")
        assert_api_error(r, 409, "secure_version_bump", "a bump without the flag")
        message = api_message(r)
        for part in ("secure_version 0 -> 2", "irreversibly", "ESP32-S3 (16 bits)",
                     "16 bumps left, 14 after", "devices none reported",
                     "allow_secure_version_bump=true", "--allow-secure-version-bump"):
            assert part in message, f"{part!r} not in {message!r}"
        assert srv.releases("idf", token) == [], "a refused bump stored a release"
        # anything but an explicit true confirms nothing
        r = curl_publish(srv, "idf", two, token, version="1.0.0", allow_secure_version_bump="yes")
        assert_api_error(r, 409, "secure_version_bump", "allow_secure_version_bump=yes")
        r = curl_publish(srv, "idf", two, token, version="1.0.0", allow_secure_version_bump="true")
        assert r.status == 201, r.describe()
        bump = r.json()["secure_version_bump"]
        assert {k: v for k, v in bump.items() if k != "warning"} == {
            "from": 0, "to": 2, "chip": "ESP32-S3", "efuse_bits": 16, "bumps_left": 16,
            "bumps_left_after": 14, "highest_release": 0, "highest_device": None}, bump
        assert "secure_version 0 -> 2" in bump["warning"], bump

        # A device whose eFuse holds 3: never offered the release with 2.
        app = IdfApp(mac=MAC, version="0.9.0", chip="esp32s3", secure_version=3)
        done = idf_update(srv.port, "/update/idf", app)
        assert done.status == 403, done
        assert "secure_version 2" in done.reason and "anti-rollback 3" in done.reason, done
        assert done.image is None, done
        d = wait_until(lambda: (lambda x: x if x and x["delivery_issue"] else None)(
            device_json(srv, token)), what="the refused check-in in the registry")
        assert (d["delivery_issue"], d["last_status"]) == ("below_secure_version", 403), d
        assert (d["secure_version"], d["secure_version_max"]) == (3, 3), d
        r = srv.api("GET", "/api/v1/products/idf", token)
        assert r.status == 200, r.describe()
        warnings = r.json()["product"]["delivery_warnings"]
        assert [(w["code"], w["devices"]) for w in warnings] == [("below_secure_version", 1)], warnings

        # otad device show: the registry's highest, and the same refusal as the check-in's.
        r = srv.cli_ok("device", "show", "idf", MAC_TEXT)
        assert "secure_version 3 (highest reported; last reported 3)" in r.stdout, r.describe()
        assert "secure_version 2, below this device's anti-rollback 3" in r.stdout, r.describe()

        # CLI: 3 raises it again; the devices' reported 3 is counted in the budget.
        r = srv.cli("release", "add", "idf", str(three), "--version", "1.1.0")
        assert r.code != 0, r.describe()
        for part in ("secure_version 2 -> 3", "13 bumps left, 13 after",
                     "releases 2, devices 3", "--allow-secure-version-bump"):
            assert part in r.stderr, f"{part!r} not in {r.stderr!r}"
        r = srv.cli_ok("release", "add", "idf", str(three), "--version", "1.1.0",
                       "--allow-secure-version-bump")
        assert r.stdout.startswith("published idf sketch 1.1.0 "), r.describe()
        assert "warning: secure_version 2 -> 3" in r.stdout, r.describe()
        assert "13 bumps left, 13 after" in r.stdout, r.describe()

        # The release with 3 is offered to the device on 3, whole.
        def updated():
            got = idf_update(srv.port, "/update/idf", app)
            return got if got.status in (200, 206) and got.image is not None else None
        done = wait_until(updated, what="1.1.0 offered to the device on secure_version 3")
        assert done.image == three_bytes, done

        # The audit log keeps every attempt with its figures: refused and confirmed, API and CLI.
        r = srv.api("GET", "/api/v1/audit?action=release.publish", token)
        entries = r.json()["entries"]
        seen = sorted((e["object"], e["outcome"]["ok"], e["params"].get("allow_secure_version_bump"),
                       (e["params"].get("secure_version_bump") or {}).get("to")) for e in entries)
        assert seen == [
            ("1.0.0", False, False, 2), ("1.0.0", False, False, 2), ("1.0.0", True, True, 2),
            ("1.1.0", False, False, 3), ("1.1.0", True, True, 3)], entries
