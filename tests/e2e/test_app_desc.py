"""The ESP-IDF app descriptor at publish (docs/PROTOCOL.md, "The app descriptor"),
over the JSON API with the real curl and over the CLI: the version taken from the
descriptor, a disagreeing one refused (409 version_mismatch) unless forced, the
framework descriptor of arduino-esp32 and images without one, a malformed
descriptor refused (422), and every field shown in the release JSON and the
release list. Runs on SQLite and, in e2e-pg, on PostgreSQL."""

import contextlib

import devices
from devices import Device
from harness import (Server, assert_api_error, assert_image, curl, curl_publish, make_image,
                     scratch_file)

IMAGE_BYTES = 200_000


@contextlib.contextmanager
def door32():
    """A running server with ESP32 product 'door' and an admin token. Yields (srv, token)."""
    with Server() as srv:
        srv.add_product("door", "esp32")
        token = srv.token("admin")
        srv.start()
        yield srv, token


def idf_image(version, seed, **kw):
    """An ESP-IDF app's image (project "door", secure_version 2, revisions v1.0-v3.99)."""
    args = dict(app_project="door", secure_version=2, min_chip_rev=100, max_chip_rev=399)
    args.update(kw)
    return make_image("esp32", IMAGE_BYTES, seed=seed, app_version=version, **args)


def publish_forced(srv, token, path, version):
    """Publishes PATH as VERSION with force_version=true, a multipart field as a CI form sends it
    (and allow_secure_version_bump=true: the images' secure_version 2 is a bump over none)."""
    return curl(["-H", f"Authorization: Bearer {token}",
                 "-F", f"image=@{path};type=application/octet-stream",
                 "-F", f"version={version}", "-F", "force_version=true",
                 "-F", "allow_secure_version_bump=true",
                 srv.url("/api/v1/products/door/releases")])


def api_error(r):
    err = r.json().get("error") or {}
    return err.get("code"), err.get("message") or ""


def test_version_taken_from_descriptor_and_every_field_shown():
    path = idf_image("3.1.4", seed=701, idf_version="v5.2.1", chip="esp32s3")
    with door32() as (srv, token):
        # secure_version 2 over no earlier release: a bump, confirmed (docs/SECURITY.md)
        r = curl_publish(srv, "door", path, token, allow_secure_version_bump="true")
        assert r.status == 201, r.describe()
        rel = r.json()["release"]
        assert rel["version"] == "3.1.4", rel
        app = rel["app"]
        elf = app.get("elf_sha256", "")
        assert len(elf) == 64 and elf == elf.lower(), app
        assert {k: v for k, v in app.items() if k != "elf_sha256"} == {
            "project": "door", "version": "3.1.4", "framework": False, "secure_version": 2,
            "idf_version": "v5.2.1", "build_date": "Jan  1 2026", "build_time": "12:00:00",
            "chip": "ESP32-S3", "min_chip_rev": 100, "max_chip_rev": 399}, app
        assert srv.releases("door", token)[0]["app"] == app
        # devices are offered it under the descriptor's version, the exact bytes
        dev = devices.esp32("/update/door", srv.port, Device(version="3.0.0", sdk_version="v5.2.1"))
        resp = srv.wait_release_visible("door", "3.1.4", dev)
        assert_image(resp, path.read_bytes(), "3.1.4", "an ESP32 on 3.0.0")


def test_disagreeing_version_refused_unless_forced():
    path = idf_image("2.0.0", seed=702)
    with door32() as (srv, token):
        r = curl_publish(srv, "door", path, token, version="2.0.1")
        assert_api_error(r, 409, "version_mismatch", "2.0.1 against a 2.0.0 image")
        _, message = api_error(r)
        for part in ('"2.0.1"', '"2.0.0"', "force_version"):
            assert part in message, f"{part} not in {message!r}"
        assert srv.releases("door", token) == [], "a refused publish stored a release"
        r = publish_forced(srv, token, path, "2.0.1")
        assert r.status == 201, r.describe()
        rel = r.json()["release"]
        assert (rel["version"], rel["app"]["version"]) == ("2.0.1", "2.0.0"), rel
        # a tag-style v agrees
        tagged = idf_image("2.1.0", seed=703)
        r = curl_publish(srv, "door", tagged, token, version="v2.1.0")
        assert r.status == 201, r.describe()
        assert r.json()["release"]["version"] == "v2.1.0"
        # the forced publish is in the audit log with its flag
        r = srv.api("GET", "/api/v1/audit?action=release.publish", token)
        entries = r.json()["entries"]
        forced = [e for e in entries if e.get("object") == "2.0.1" and e["outcome"]["ok"]]
        assert forced and forced[0]["params"].get("force_version") is True, entries


def test_framework_and_missing_descriptors():
    framework = make_image("esp32", IMAGE_BYTES, seed=704)          # arduino-esp32's default
    bare = make_image("esp32", IMAGE_BYTES, seed=705, no_app_desc=True)
    with door32() as (srv, token):
        r = curl_publish(srv, "door", framework, token)
        assert_api_error(r, 400, "bad_request", "a framework image without a version")
        assert "framework" in api_error(r)[1], r.describe()
        r = curl_publish(srv, "door", framework, token, version="1.0.0")
        assert r.status == 201, r.describe()
        app = r.json()["release"]["app"]
        assert (app["framework"], app["project"]) == (True, "arduino-lib-builder"), app
        assert app["version"].startswith("esp-idf: "), app
        r = curl_publish(srv, "door", bare, token)
        assert_api_error(r, 400, "bad_request", "an image without a descriptor, without a version")
        r = curl_publish(srv, "door", bare, token, version="1.1.0")
        assert r.status == 201, r.describe()
        assert r.json()["release"]["app"] is None


def test_malformed_descriptor_refused():
    data = bytearray(idf_image("4.0.0", seed=706).read_bytes())
    data[32 + 16:32 + 48] = b"x" * 32            # the version field without its NUL
    bad = scratch_file("appdesc-no-nul.bin", bytes(data))
    data = bytearray(idf_image("4.0.1", seed=707).read_bytes())
    data[32 + 48 + 2] = 0x07                      # a control byte in the project name
    ctl = scratch_file("appdesc-control.bin", bytes(data))
    with door32() as (srv, token):
        for path, needle in ((bad, "version has no NUL"), (ctl, "project_name has byte 0x07")):
            r = curl_publish(srv, "door", path, token, version="4.0.0")
            assert_api_error(r, 422, "image_invalid", needle)
            assert needle in api_error(r)[1], r.describe()
            r = publish_forced(srv, token, path, "4.0.0")
            assert r.status == 422, f"forced: {r.describe()}"
        assert srv.releases("door", token) == []


def test_cli_publish_and_list():
    path = idf_image("5.0.0", seed=708)
    other = idf_image("5.0.1", seed=709)
    with Server() as srv:
        srv.add_product("door", "esp32")
        r = srv.cli_ok("release", "add", "door", str(path), "--allow-secure-version-bump")
        assert r.stdout.startswith("published door sketch 5.0.0 "), r.describe()
        assert 'app descriptor: project "door", version "5.0.0", secure_version 2' in r.stdout, r.describe()
        assert "chip ESP32 rev v1.0 to v3.99" in r.stdout, r.describe()
        r = srv.cli("release", "add", "door", str(other), "--version", "5.1.0")
        assert r.code != 0, r.describe()
        assert '"5.1.0"' in r.stderr and '"5.0.1"' in r.stderr and "--force-version" in r.stderr, r.describe()
        srv.cli_ok("release", "add", "door", str(other), "--version", "5.1.0", "--force-version")
        r = srv.cli_ok("release", "list", "door")
        lines = r.stdout.splitlines()
        assert len(lines) == 2 and all(line.endswith("IDF v5.5.1 sv 2") for line in lines), r.describe()
        listed = srv.cli_ok("release", "list", "door", "--json").json()["releases"]
        assert [(x["version"], x["app"]["version"]) for x in listed] == [("5.1.0", "5.0.1"), ("5.0.0", "5.0.0")]
