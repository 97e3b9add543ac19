"""The update decision: which release a device is offered, and when it is told
304, 403, 400 or 404. Version order (semver, v prefix, pre-release, publish
sequence for other strings), md5 currency including the flash-mode byte
(docs/reference/stock-clients.md §2 notes, §13.10), x-ESP8266-mode: version (§3), FS mode
(§2, §13.9), the fit checks (§4.1, §4.3, §12.4) and malformed identity
headers."""

import gzip
import contextlib

import devices
from devices import Device
from harness import (Server, assert_image, assert_not_modified, assert_one_line_text, assert_status,
                     make_blob, make_image, md5_hex, roundup4096)

NO_MATCH_MD5 = "0123456789abcdef0123456789abcdef"


@contextlib.contextmanager
def product(releases, platform="esp8266", name="door", default_channel=None, args=()):
    """A running server with product NAME and RELEASES published in order.

    RELEASES: (version, Path[, mode[, channel]]) tuples. Yields (srv, {version: bytes})."""
    with Server(args=list(args)) as srv:
        srv.add_product(name, platform, default_channel)
        data = {}
        for rel in releases:
            version, path = rel[0], rel[1]
            mode = rel[2] if len(rel) > 2 else None
            channel = rel[3] if len(rel) > 3 else None
            srv.add_release(name, path, version, channel=channel, mode=mode)
            data[(version, mode or "sketch")] = path.read_bytes()
        srv.start()
        yield srv, data


def img(seed, size=200_000, **kw):
    kw.setdefault("flash_size", "4M")
    return make_image(kw.pop("platform", "esp8266"), size, seed=seed, **kw)


def checkin(srv, target="/update/door", core="3.1", **fields):
    """One ESP8266 check-in; FIELDS override Device() (sketch_md5 defaults to one matching nothing)."""
    fields.setdefault("sketch_md5", NO_MATCH_MD5)
    return srv.send(devices.esp8266(target, srv.port, Device(**fields), core=core))


def offered(resp):
    """The x-version of a 200, or the status as a string (for compact assertion messages)."""
    return resp.header("x-version") if resp.status == 200 else str(resp.status)


# -- Version order


def test_semver_compares_numerically_not_by_publish_order():
    # 1.10.0 is newer than 1.2.0 (a lexical compare says otherwise), even though 1.2.0 was published last.
    with product([("1.10.0", img(1)), ("1.2.0", img(2))]) as (srv, data):
        resp = checkin(srv, version="1.9.0")
        assert_image(resp, data["1.10.0", "sketch"], "1.10.0", "device 1.9.0, releases 1.10.0 then 1.2.0")


def test_semver_single_numbers_compare_numerically():
    with product([("9", img(1)), ("10", img(2))]) as (srv, data):
        resp = checkin(srv, version="9")
        assert offered(resp) == "10", f"device 9, latest 10: {resp.describe()}"


def test_v_prefix_is_ignored_for_equality():
    with product([("v2.0.0", img(1))]) as (srv, _):
        assert_not_modified(checkin(srv, version="2.0.0"), "device 2.0.0, release v2.0.0")


def test_v_prefix_older_device_is_offered():
    with product([("v1.0.0", img(1)), ("v2.0.0", img(2))]) as (srv, data):
        resp = checkin(srv, version="v1.9")
        assert_image(resp, data["v2.0.0", "sketch"], "v2.0.0", "device v1.9, latest v2.0.0")


def test_prerelease_is_newer_than_previous_release():
    with product([("1.0.0", img(1)), ("2.0.0-rc.1", img(2))]) as (srv, data):
        resp = checkin(srv, version="1.0.0")
        assert offered(resp) == "2.0.0-rc.1", f"device 1.0.0, latest 2.0.0-rc.1: {resp.describe()}"


def test_prerelease_is_below_its_release():
    # 2.0.0-rc.2 was published after 2.0.0 but orders below it: the target stays 2.0.0.
    with product([("2.0.0-rc.1", img(1)), ("2.0.0", img(2)), ("2.0.0-rc.2", img(3))]) as (srv, data):
        resp = checkin(srv, version="2.0.0-rc.1")
        assert offered(resp) == "2.0.0", f"device 2.0.0-rc.1: {resp.describe()}"


def test_device_on_release_newer_than_prerelease_target_gets_304():
    with product([("1.0.0", img(1)), ("2.0.0-rc.1", img(2))]) as (srv, _):
        assert_not_modified(checkin(srv, version="2.0.0"), "device 2.0.0, latest 2.0.0-rc.1")


def test_non_semver_versions_follow_publish_sequence():
    # "build-b" then "build-a": by sequence build-a is newer, though it sorts first.
    with product([("build-b", img(1)), ("build-a", img(2))]) as (srv, data):
        resp = checkin(srv, version="build-b")
        assert_image(resp, data["build-a", "sketch"], "build-a", "device build-b, latest build-a")


def test_non_semver_device_on_latest_gets_304():
    with product([("DOOR-7-g14f53a19", img(1)), ("DOOR-9-g0a1b2c3d", img(2))]) as (srv, _):
        assert_not_modified(checkin(srv, version="DOOR-9-g0a1b2c3d"), "device on the latest git-describe version")


def test_non_semver_device_on_older_is_offered_latest():
    # The §1.1 example version string.
    with product([("DOOR-7-g14f53a19", img(1)), ("DOOR-9-g0a1b2c3d", img(2))]) as (srv, _):
        resp = checkin(srv, version="DOOR-7-g14f53a19")
        assert offered(resp) == "DOOR-9-g0a1b2c3d", f"device DOOR-7: {resp.describe()}"


def test_device_newer_than_target_gets_304():
    with product([("1.0.0", img(1))]) as (srv, _):
        assert_not_modified(checkin(srv, version="1.5.0"), "device 1.5.0, latest 1.0.0")


def test_never_offers_a_downgrade():
    # 1.5.0 is the most recently published, but the device already runs 2.0.0.
    with product([("2.0.0", img(1)), ("1.5.0", img(2))]) as (srv, _):
        assert_not_modified(checkin(srv, version="2.0.0"), "device 2.0.0, releases 2.0.0 then 1.5.0")


def test_version_query_used_without_header():
    with product([("1.0.0", img(1)), ("1.1.0", img(2))]) as (srv, _):
        assert_not_modified(checkin(srv, "/update/door?version=1.1.0"), "?version= equal to latest")
        assert offered(checkin(srv, "/update/door?version=1.0.0")) == "1.1.0", "?version=1.0.0 must be offered 1.1.0"


def test_version_header_wins_over_tag_query():
    with product([("1.0.0", img(1)), ("1.1.0", img(2))]) as (srv, _):
        resp = checkin(srv, "/update/door?tag=1.0.0", version="1.1.0")
        assert_not_modified(resp, "x-ESP8266-version 1.1.0 with ?tag=1.0.0")


def test_tag_query_wins_over_version_query():
    with product([("1.0.0", img(1)), ("1.1.0", img(2))]) as (srv, _):
        resp = checkin(srv, "/update/door?tag=1.1.0&version=1.0.0")
        assert_not_modified(resp, "?tag=1.1.0&version=1.0.0")


def test_only_default_channel_is_offered():
    with product([("1.0.0", img(1)), ("2.0.0", img(2), None, "beta")]) as (srv, _):
        assert_not_modified(checkin(srv, version="1.0.0"), "2.0.0 is on beta, default channel stable")


def test_product_default_channel_is_honoured():
    with product([("1.0.0", img(1), None, "stable"), ("2.0.0", img(2), None, "beta")],
                 default_channel="beta") as (srv, _):
        resp = checkin(srv, version="1.5.0")
        assert offered(resp) == "2.0.0", f"default channel beta: {resp.describe()}"


# -- MD5 currency (§2 notes: sketch-md5 is the installed image's md5; byte 2 may differ)


def test_md5_of_target_means_current_whatever_the_version_string():
    with product([("1.0.0", img(1)), ("1.1.0", img(2))]) as (srv, data):
        resp = checkin(srv, version="1.0.0", sketch_md5=md5_hex(data["1.1.0", "sketch"]))
        assert_not_modified(resp, "sketch-md5 equals the target's md5")


def test_md5_current_for_every_flash_mode_byte():
    # The Updater rewrites byte 2 (flash mode) to the chip's mode: all four values mean "installed".
    with product([("1.1.0", img(2))]) as (srv, data):
        image = bytearray(data["1.1.0", "sketch"])
        for mode in range(4):
            image[2] = mode
            resp = checkin(srv, version="0.1.0", sketch_md5=md5_hex(bytes(image)))
            assert resp.status == 304, f"flash mode byte {mode}: expected 304, got {resp.describe()}"


def test_md5_of_other_image_without_version_gets_update():
    with product([("1.1.0", img(2))]) as (srv, data):
        resp = checkin(srv, version=None, sketch_md5=NO_MATCH_MD5)
        assert_image(resp, data["1.1.0", "sketch"], "1.1.0", "only sketch-md5, matching no release")


def test_md5_of_target_without_version_gets_304():
    with product([("1.1.0", img(2))]) as (srv, data):
        resp = checkin(srv, version=None, sketch_md5=md5_hex(data["1.1.0", "sketch"]))
        assert_not_modified(resp, "only sketch-md5, equal to the target")


def test_md5_of_older_release_without_version_gets_update():
    # Knowing the md5 is not enough: it has to be the target's.
    with product([("1.0.0", img(1)), ("1.1.0", img(2))]) as (srv, data):
        resp = checkin(srv, version=None, sketch_md5=md5_hex(data["1.0.0", "sketch"]))
        assert_image(resp, data["1.1.0", "sketch"], "1.1.0", "only sketch-md5, equal to the older release")


def test_no_version_and_no_md5_gets_304():
    # A 2.3 core sends no sketch-md5; without a version there is nothing to compare.
    with product([("1.1.0", img(2))]) as (srv, _):
        assert_not_modified(checkin(srv, core="2.3", version=None), "no version, no sketch-md5")


def test_product_without_releases_gets_304():
    with product([]) as (srv, _):
        assert_not_modified(checkin(srv, version="1.0.0"), "known product, nothing published")


def test_gzip_image_is_served_inflated_unless_the_product_takes_gzip():
    # §4.2/§12.3: only ESP8266 cores >= 2.7 accept a body starting 1F 8B, and a 2.6 core sends
    # the same headers: a product without --gzip on serves the image inflated (docs/SIGNING.md).
    gz = img(11, gzip=True)
    with product([("1.1.0", gz)]) as (srv, data):
        resp = checkin(srv, version="1.0.0")
        assert_image(resp, gzip.decompress(data["1.1.0", "sketch"]), "1.1.0", "gzip release")
        assert resp.raw_body[:1] == b"\xe9", "the inflated image starts E9"


# -- x-ESP8266-mode: version (§3: getAvailableVersion expects 200 + x-version)


def test_mode_version_reports_target_without_body():
    with product([("1.0.0", img(1)), ("1.1.0", img(2))]) as (srv, data):
        resp = checkin(srv, version="1.1.0", mode="version")
        assert_status(resp, 200, "mode: version")
        assert resp.header_values("x-version") == ["1.1.0"], f"x-version: {resp.describe()}"
        assert resp.header_values("x-md5") == [md5_hex(data["1.1.0", "sketch"])], f"x-MD5: {resp.describe()}"
        assert resp.header_values("content-length") == ["0"], f"Content-Length: {resp.describe()}"
        assert resp.body == b"", f"mode: version must have no body: {resp.describe()}"


def test_mode_version_with_nothing_published_gets_404():
    with product([]) as (srv, _):
        assert_status(checkin(srv, mode="version"), 404, "mode: version, no release")


def test_mode_version_unknown_product_gets_404():
    with product([]) as (srv, _):
        assert_status(checkin(srv, "/update/nosuch", mode="version"), 404, "mode: version, unknown product")


# -- Filesystem mode (x-ESP8266-mode: spiffs)


def test_spiffs_mode_gets_fs_release():
    fs = make_blob(150_000, seed=7)
    with product([("1.1.0", img(2)), ("1.1.0", fs, "fs")]) as (srv, data):
        resp = checkin(srv, version="1.0.0", mode="spiffs")
        assert_image(resp, data["1.1.0", "fs"], "1.1.0", "mode spiffs")


def test_sketch_mode_not_given_fs_release():
    fs = make_blob(150_000, seed=7)
    with product([("1.1.0", img(2)), ("1.1.0", fs, "fs")]) as (srv, data):
        resp = checkin(srv, version="1.0.0", mode="sketch")
        assert_image(resp, data["1.1.0", "sketch"], "1.1.0", "mode sketch next to an fs release")


def test_spiffs_mode_skips_free_space_check():
    # §2/§13.9: free-space is the sketch space even in FS mode; it says nothing about the FS partition.
    fs = make_blob(150_000, seed=7)
    with product([("1.1.0", fs, "fs")]) as (srv, data):
        resp = checkin(srv, version="1.0.0", mode="spiffs", free_space=4096)
        assert_image(resp, data["1.1.0", "fs"], "1.1.0", "fs image larger than free-space")


def test_spiffs_mode_without_fs_release_gets_304():
    with product([("1.1.0", img(2))]) as (srv, _):
        assert_not_modified(checkin(srv, version="1.0.0", mode="spiffs"), "spiffs, only sketch releases")


# -- Fit checks: 403 before the device fails with -100 / -107 (§4, §12.4)


def test_free_space_boundary_is_roundup4096():
    image = img(3, size=100_000)               # 100000 bytes: roundup4096 = 102400
    size = image.stat().st_size
    with product([("1.1.0", image)]) as (srv, data):
        short = checkin(srv, version="1.0.0", free_space=roundup4096(size) - 16)
        assert_status(short, 403, f"free-space {roundup4096(size) - 16} < roundup4096({size})")
        assert_one_line_text(short, "403 reason")
        exact = checkin(srv, version="1.0.0", free_space=roundup4096(size))
        assert_image(exact, data["1.1.0", "sketch"], "1.1.0", "free-space == roundup4096(size)")


def test_flash_size_code_larger_than_chip_gets_403():
    with product([("1.1.0", img(4, flash_size="4M"))]) as (srv, _):
        resp = checkin(srv, version="1.0.0", chip_size=1048576)
        assert_status(resp, 403, "4M image on a 1M chip")
        assert_one_line_text(resp, "403 reason")


def test_flash_size_code_equal_to_chip_is_served():
    with product([("1.1.0", img(4, flash_size="4M"))]) as (srv, data):
        resp = checkin(srv, version="1.0.0", chip_size=4194304)
        assert_image(resp, data["1.1.0", "sketch"], "1.1.0", "4M image on a 4M chip")


def test_flash_size_16m_code_refused_on_8m_chip():
    with product([("1.1.0", img(5, flash_size="16M"))]) as (srv, _):
        assert_status(checkin(srv, version="1.0.0", chip_size=8388608), 403, "16M image (code 9) on an 8M chip")


def test_flash_size_compares_bytes_not_codes():
    # Code 1 (256K) is numerically above code 0 (512K) but is the smaller flash.
    with product([("1.1.0", img(6, flash_size="256K"))]) as (srv, data):
        resp = checkin(srv, version="1.0.0", chip_size=524288)
        assert_image(resp, data["1.1.0", "sketch"], "1.1.0", "256K image on a 512K chip")


def test_esp32_has_no_flash_size_check():
    # §4: ESP32 HTTPUpdate checks only the magic byte; the flash-size check is ESP8266-only.
    image = make_image("esp32", 200_000, seed=8, flash_size="16M")
    with product([("1.1.0", image)], platform="esp32", name="door32") as (srv, data):
        dev = Device(version="1.0.0", sketch_md5=NO_MATCH_MD5, chip_size=4194304, free_space=1966080)
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev))
        assert_image(resp, data["1.1.0", "sketch"], "1.1.0", "ESP32 16M image on a 4M chip")


def test_esp32_free_space_checked():
    image = make_image("esp32", 200_000, seed=8)
    with product([("1.1.0", image)], platform="esp32", name="door32") as (srv, _):
        dev = Device(version="1.0.0", sketch_md5=NO_MATCH_MD5, free_space=65536)
        resp = srv.send(devices.esp32("/update/door32", srv.port, dev))
        assert_status(resp, 403, "ESP32 image larger than x-ESP32-free-space")


# -- 400 for malformed identity headers, 404 for unknown products


def malformed(**fields):
    with product([("1.1.0", img(2))]) as (srv, _):
        resp = checkin(srv, **fields)
        assert_status(resp, 400, f"malformed identity {fields}")
        assert_one_line_text(resp, "400 reason")


def malformed_raw(extra_headers, dev=None):
    with product([("1.1.0", img(2))]) as (srv, _):
        dev = (dev or Device(version="1.0.0", sketch_md5=NO_MATCH_MD5)).but(extra=extra_headers)
        resp = srv.send(devices.esp8266("/update/door", srv.port, dev))
        assert_status(resp, 400, f"extra headers {extra_headers}")
        assert_one_line_text(resp, "400 reason")


def test_bad_sta_mac_gets_400():
    malformed(version="1.0.0", sta_mac="18:FE:AA:AA:AA")


def test_non_hex_mac_gets_400():
    malformed(version="1.0.0", ap_mac="ZZ:FE:AA:AA:AA:01")


def test_non_numeric_free_space_gets_400():
    malformed(version="1.0.0", free_space="lots")


def test_negative_sketch_size_gets_400():
    malformed(version="1.0.0", sketch_size="-1")


def test_short_md5_gets_400():
    malformed(version="1.0.0", sketch_md5=NO_MATCH_MD5[:31])


def test_non_hex_md5_gets_400():
    malformed(version="1.0.0", sketch_md5="g" * 32)


def test_unknown_mode_gets_400():
    malformed(version="1.0.0", mode="firmware")


def test_duplicated_identity_header_gets_400():
    malformed_raw([("x-ESP8266-version", "1.0.1")])


def test_both_header_families_get_400():
    malformed_raw([("x-ESP32-STA-MAC", "24:0A:C4:A3:15:3C")])


def test_unknown_product_gets_404():
    with product([("1.1.0", img(2))]) as (srv, _):
        assert_status(checkin(srv, "/update/nosuch", version="1.0.0"), 404, "unknown product")


def test_unknown_product_via_no_slash_target_gets_404():
    with product([("1.1.0", img(2))]) as (srv, _):
        assert_status(checkin(srv, "update/nosuch", version="1.0.0"), 404, "GET update/nosuch HTTP/1.0")


# -- Publishing while the server runs


def test_cli_product_visible_to_devices_while_running():
    with product([]) as (srv, _):
        assert_status(checkin(srv, "/update/late", version="1.0.0"), 404, "before the product exists")
        srv.add_product("late", "esp8266")
        srv.add_release("late", img(12), "1.1.0")
        req = devices.esp8266("/update/late", srv.port, Device(version="1.0.0", sketch_md5=NO_MATCH_MD5))
        srv.wait_release_visible("late", "1.1.0", req)


def test_cli_release_visible_to_devices_while_running():
    # The server polls a generation counter: a CLI publish is offered within about a second.
    with product([("1.0.0", img(1))]) as (srv, _):
        assert_not_modified(checkin(srv, version="1.0.0"), "before the CLI publish")
        new = img(9)
        srv.add_release("door", new, "1.2.0")
        req = devices.esp8266("/update/door", srv.port, Device(version="1.0.0", sketch_md5=NO_MATCH_MD5))
        resp = srv.wait_release_visible("door", "1.2.0", req)
        assert_image(resp, new.read_bytes(), "1.2.0", "after the CLI publish")
