"""Stock clients, byte for byte: every request form of docs/reference/stock-clients.md §1-2 gets
304 when current and an image a stock updater accepts when older (§3, §4,
§12), including request-targets without a leading slash (§1.1) and the
2016 proxy forms ?tag= (squix78 §10.2, EmonESP §10.3) served through aliases.

Every request here is HTTP/1.0 with Connection: close, so every response is
read until the server closes the connection (§13.8)."""

import contextlib

import devices
from devices import Device
from harness import Server, assert_image, assert_not_modified, assert_status, make_image, md5_hex

ALIASES = "/esp/firmware.php=emonesp,/firmware.php=squix"


@contextlib.contextmanager
def fleet():
    """A server with four products, two releases each (older first):
    door (esp8266) 1.0.0 -> 1.1.0, squix (esp8266) 1.0.0 -> 1.0.1,
    emonesp (esp8266) 2.3.0 -> 2.4.0, door32 (esp32) 1.0.0 -> 1.1.0."""
    with Server(args=["--aliases", ALIASES]) as srv:
        imgs = {}
        for product, platform, versions, seed in (("door", "esp8266", ("1.0.0", "1.1.0"), 10),
                                                  ("squix", "esp8266", ("1.0.0", "1.0.1"), 20),
                                                  ("emonesp", "esp8266", ("2.3.0", "2.4.0"), 30),
                                                  ("door32", "esp32", ("1.0.0", "1.1.0"), 40)):
            srv.add_product(product, platform)
            for i, version in enumerate(versions):
                path = make_image(platform, 300_000 + 4000 * i, seed=seed + i, flash_size="4M",
                                  hash_appended=platform == "esp32")
                srv.add_release(product, path, version)
                imgs[(product, version)] = path.read_bytes()
        srv.start()
        yield srv, imgs


def running(data, version, **kw):
    """The Device an ESP8266 running DATA (labelled VERSION) reports."""
    return Device(version=version, sketch_md5=md5_hex(data), sketch_size=len(data), **kw)


def running32(data, version, **kw):
    """The Device an ESP32 running DATA reports: sha256 is the appended digest, uppercase (§2)."""
    return Device(version=version, sketch_md5=md5_hex(data), sketch_size=len(data),
                  sketch_sha256=data[-32:].hex().upper(), sdk_version="v4.4.5", free_space=1966080, **kw)


def assert_closed(resp):
    assert resp.closed, f"server did not close after HTTP/1.0 Connection: close: {resp.describe()}"


# -- ESP8266 core 2.4: Host, User-Agent, Connection, custom headers; no Chip-ID, no Content-Length


def test_core24_current_gets_304():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.1.0"], "1.1.0", sdk_version=devices.sdk_for("2.4"))
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="2.4"))
        assert_not_modified(resp, "core 2.4, current")
        assert_closed(resp)


def test_core24_older_gets_image():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0", sdk_version=devices.sdk_for("2.4"))
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="2.4"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "core 2.4, older")


def test_core24_target_without_leading_slash():
    # §1.1: update(client, host, port, "update/door") sends the uri verbatim.
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0", sdk_version=devices.sdk_for("2.4"))
        resp = srv.send(devices.esp8266("update/door", srv.port, dev, core="2.4"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "GET update/door HTTP/1.0")


# -- ESP8266 core 2.7: Chip-ID and Content-Length: 0 (2.6.0+)


def test_core27_current_gets_304():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.1.0"], "1.1.0")
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="2.7"))
        assert_not_modified(resp, "core 2.7, current")
        assert_closed(resp)


def test_core27_older_gets_image():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="2.7"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "core 2.7, older")


def test_core27_target_without_leading_slash():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp8266("update/door", srv.port, dev, core="2.7"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "core 2.7, no leading slash")


# -- ESP8266 core 3.1: the full §1.1 request


def test_core31_current_gets_304():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.1.0"], "1.1.0")
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="3.1"))
        assert_not_modified(resp, "core 3.1, current")
        assert_closed(resp)


def test_core31_older_gets_image():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="3.1"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "core 3.1, older")


def test_core31_target_without_leading_slash():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp8266("update/door", srv.port, dev, core="3.1"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "core 3.1, no leading slash")


def test_core31_with_basic_authorization_still_served():
    # §2: 3.0.0+ devices may send Authorization: Basic; the device endpoint needs no auth.
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0")
        req = devices.esp8266("/update/door", srv.port, dev, core="3.1", authorization="Basic dXNlcjpwYXNz")
        assert_image(srv.send(req), imgs["door", "1.1.0"], "1.1.0", "core 3.1 with Basic auth")


def test_header_names_matched_case_insensitively():
    # §1.1: "A server must match them case-insensitively" (proxies rewrite the case).
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.1.0"], "1.1.0")
        req = devices.esp8266("/update/door", srv.port, dev, core="3.1")
        head, _, _ = req.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        mangled = [lines[0]] + [line.split(b":", 1)[0].upper() + b":" + line.split(b":", 1)[1]
                                for line in lines[1:]]
        resp = srv.send(b"\r\n".join(mangled) + b"\r\n\r\n")
        assert_not_modified(resp, "upper-case header names, current version")


# -- arduino-esp32 2.x: x-ESP32-*, Cache-Control: no-cache, no Content-Length


def test_esp32_core2_current_gets_304():
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.1.0"], "1.1.0")
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev, core="2"))
        assert_not_modified(resp, "arduino-esp32 2.x, current")
        assert_closed(resp)


def test_esp32_core2_older_gets_image():
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev, core="2"))
        assert_image(resp, imgs["door32", "1.1.0"], "1.1.0", "arduino-esp32 2.x, older")
        assert resp.raw_body[:1] == b"\xe9", "ESP32 HTTPUpdate requires the first byte 0xE9 (§4)"


def test_esp32_core2_target_without_leading_slash():
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp32("update/door32", srv.port, dev, core="2"))
        assert_image(resp, imgs["door32", "1.1.0"], "1.1.0", "arduino-esp32 2.x, no leading slash")


# -- arduino-esp32 3.x: + x-ESP32-BASE-MAC


def test_esp32_core3_current_gets_304():
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.1.0"], "1.1.0", base_mac="24:0A:C4:A3:15:3A")
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev, core="3"))
        assert_not_modified(resp, "arduino-esp32 3.x, current")
        assert_closed(resp)


def test_esp32_core3_older_gets_image():
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.0.0"], "1.0.0", base_mac="24:0A:C4:A3:15:3A")
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev, core="3"))
        assert_image(resp, imgs["door32", "1.1.0"], "1.1.0", "arduino-esp32 3.x, older")


def test_esp32_core3_target_without_leading_slash():
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.0.0"], "1.0.0")
        resp = srv.send(devices.esp32("update/door32", srv.port, dev, core="3"))
        assert_image(resp, imgs["door32", "1.1.0"], "1.1.0", "arduino-esp32 3.x, no leading slash")


def test_esp32_core3_without_wifi_macs_is_served():
    # §2: on chips without Wi-Fi, 3.x sends x-ESP32-BASE-MAC but no STA/AP MAC.
    with fleet() as (srv, imgs):
        dev = running32(imgs["door32", "1.0.0"], "1.0.0").but(sta_mac=None, ap_mac=None)
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev, core="3"))
        assert_image(resp, imgs["door32", "1.1.0"], "1.1.0", "arduino-esp32 3.x without STA/AP MAC")


def test_lowercase_mac_accepted():
    with fleet() as (srv, imgs):
        dev = running(imgs["door", "1.0.0"], "1.0.0", sta_mac="18:fe:aa:aa:aa:0b", ap_mac="1a:fe:aa:aa:aa:0b")
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev, core="3.1"))
        assert_image(resp, imgs["door", "1.1.0"], "1.1.0", "lower-case MACs")


# -- squix78 (§10.2): core 2.3, GET /firmware.php?tag=X, no version header


def squix_device(data):
    # A 2.3 device: no sketch-md5 header is sent at all; no currentVersion.
    return Device(version=None, sketch_md5=None, sketch_size=len(data), sdk_version=devices.sdk_for("2.3"))


def test_squix78_tag_current_gets_304():
    with fleet() as (srv, imgs):
        dev = squix_device(imgs["squix", "1.0.1"])
        resp = srv.send(devices.esp8266("/firmware.php?tag=1.0.1", srv.port, dev, core="2.3"))
        assert_not_modified(resp, "squix78 ?tag= equal to latest")
        assert_closed(resp)


def test_squix78_tag_older_gets_image():
    with fleet() as (srv, imgs):
        dev = squix_device(imgs["squix", "1.0.0"])
        resp = srv.send(devices.esp8266("/firmware.php?tag=1.0.0", srv.port, dev, core="2.3"))
        assert_image(resp, imgs["squix", "1.0.1"], "1.0.1", "squix78 ?tag= older")


def test_squix78_target_without_leading_slash():
    with fleet() as (srv, imgs):
        dev = squix_device(imgs["squix", "1.0.0"])
        resp = srv.send(devices.esp8266("firmware.php?tag=1.0.0", srv.port, dev, core="2.3"))
        assert_image(resp, imgs["squix", "1.0.1"], "1.0.1", "GET firmware.php?tag=1.0.0 HTTP/1.0")


# -- EmonESP (§10.3): GET /esp/firmware.php?tag=X; without tag -> the latest version as text


def test_emonesp_tag_current_gets_304_not_empty_200():
    # The 2016 script answered an empty 200 here, which the device reports as -101 (§10.3, §13.2).
    with fleet() as (srv, imgs):
        dev = squix_device(imgs["emonesp", "2.4.0"])
        resp = srv.send(devices.esp8266("/esp/firmware.php?tag=2.4.0", srv.port, dev, core="2.3"))
        assert_not_modified(resp, "EmonESP ?tag= equal to latest")
        assert_closed(resp)


def test_emonesp_tag_older_gets_image():
    with fleet() as (srv, imgs):
        dev = squix_device(imgs["emonesp", "2.3.0"])
        resp = srv.send(devices.esp8266("/esp/firmware.php?tag=2.3.0", srv.port, dev, core="2.3"))
        assert_image(resp, imgs["emonesp", "2.4.0"], "2.4.0", "EmonESP ?tag= older")


def test_emonesp_target_without_leading_slash():
    with fleet() as (srv, imgs):
        dev = squix_device(imgs["emonesp", "2.3.0"])
        resp = srv.send(devices.esp8266("esp/firmware.php?tag=2.3.0", srv.port, dev, core="2.3"))
        assert_image(resp, imgs["emonesp", "2.4.0"], "2.4.0", "GET esp/firmware.php?tag=2.3.0 HTTP/1.0")


def test_emonesp_without_tag_gets_latest_version_text():
    # §10.3: ota_get_latest_version() -> GET /esp/firmware.php -> 200 text/plain "<tag_name>".
    with fleet() as (srv, _):
        resp = srv.send(devices.http_client_get("/esp/firmware.php", srv.port))
        assert_status(resp, 200, "EmonESP latest-version call")
        ctype = resp.header("content-type") or ""
        assert ctype.lower().startswith("text/plain"), f"Content-Type {ctype!r}"
        assert resp.body == b"2.4.0", f"body must be exactly the latest version, got {resp.body!r}"


def test_emonesp_empty_tag_gets_latest_version_text():
    with fleet() as (srv, _):
        resp = srv.send(devices.http_client_get("/esp/firmware.php?tag=", srv.port))
        assert_status(resp, 200, "EmonESP call with an empty tag=")
        assert resp.body == b"2.4.0", f"body must be exactly the latest version, got {resp.body!r}"


def test_emonesp_alias_with_version_header_and_no_tag_gets_decision():
    # The latest-version text is only for a call with no tag and no version header.
    with fleet() as (srv, imgs):
        dev = running(imgs["emonesp", "2.3.0"], "2.3.0")
        resp = srv.send(devices.esp8266("/esp/firmware.php", srv.port, dev, core="3.1"))
        assert_image(resp, imgs["emonesp", "2.4.0"], "2.4.0", "alias, version header, no tag")


def test_aliases_from_environment():
    # Written without the leading slash, as a device might send the path (§1.1).
    with Server(env={"OTAD_ALIASES": "fw.php=door"}) as srv:
        srv.add_product("door", "esp8266")
        path = make_image("esp8266", 64_000, seed=15)
        srv.add_release("door", path, "1.0.0")
        srv.start()
        dev = Device(version="0.9.0", sketch_md5="0" * 32)
        resp = srv.send(devices.esp8266("/fw.php", srv.port, dev))
        assert_image(resp, path.read_bytes(), "1.0.0", "alias set by OTAD_ALIASES")


def test_plain_http_client_on_update_path_without_version_gets_304():
    # A device that reports no version and no sketch-md5 has nothing to compare: 304.
    with fleet() as (srv, _):
        resp = srv.send(devices.http_client_get("/update/door", srv.port))
        assert_not_modified(resp, "no version, no md5")

