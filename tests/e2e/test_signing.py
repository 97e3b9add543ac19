"""Signed firmware end to end (issue 3): a signing product serves only
signed forms, each the one its device verifies; what devices receive is
checked with the openssl command line, independent of otad. Pre-signed
uploads must verify; unsigned images are never served. Reference §7-8."""

import gzip
import hashlib
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from devices import Device, esp32, esp8266
from harness import (Server, assert_api_error, assert_image, assert_status, curl_publish, make_image,
                     md5_hex, scratch_file, session_dir, wait_until)


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, timeout=60)


def split_esp8266(body):
    """payload ‖ signature ‖ uint32 LE length (§7.2)."""
    (sig_len,) = struct.unpack("<I", body[-4:])
    return body[:-4 - sig_len], body[-4 - sig_len:-4], sig_len


def verify_pkcs1_sha256(pub, payload, sig):
    work = Path(tempfile.mkdtemp(dir=session_dir()))
    (work / "payload").write_bytes(payload)
    (work / "sig").write_bytes(sig)
    r = openssl("dgst", "-sha256", "-verify", str(pub), "-signature", str(work / "sig"),
                str(work / "payload"))
    return r.returncode == 0 and b"Verified OK" in r.stdout


def legacy_digest(pub, sig):
    """The 2.5.x form: PKCS#1 type-1 padding around the raw SHA-256 (§7.3)."""
    work = Path(tempfile.mkdtemp(dir=session_dir()))
    (work / "sig").write_bytes(sig)
    r = openssl("pkeyutl", "-verifyrecover", "-pubin", "-inkey", str(pub), "-in", str(work / "sig"))
    return r.stdout if r.returncode == 0 else None


def signing_server(srv, platform="esp8266", key_type="rsa-2048", extra=()):
    srv.add_product("door", platform)
    srv.cli_ok("key", "generate", "--type", key_type, "--name", "fleet")
    srv.cli_ok("product", "set", "door", "--signing", "required", "--key", "fleet", *extra)
    pub = srv.data_dir / "keys" / "fleet.pub"
    assert pub.exists(), "key generate must write keys/fleet.pub"
    return pub


def test_signing_product_serves_signed_image_that_openssl_verifies():
    with Server() as srv:
        pub = signing_server(srv, extra=("--legacy-signature", "on"))
        img = make_image("esp8266", 200_000, seed=31, flash_size="4M").read_bytes()
        srv.add_release("door", scratch_file("s31.bin", img), "1.0.1")
        srv.start()
        # A 3.1 core (sends Chip-ID): the >= 2.6 form, headers describing exactly the bytes sent.
        r = srv.send(esp8266("/update/door", srv.port, Device(version="1.0.0"), core="3.1"))
        payload, sig, sig_len = split_esp8266(r.body)
        assert_image(r, r.body, "1.0.1", "signed form")
        assert r.header("x-MD5") == md5_hex(r.body)
        assert payload == img, "the signed payload must be the published image"
        assert sig_len == 256
        assert verify_pkcs1_sha256(pub, payload, sig), "openssl must verify the PKCS#1 v1.5 signature"
        # A 2.4-style request (no Chip-ID: a core older than 2.6) gets the 2.5.x form.
        r = srv.send(esp8266("/update/door", srv.port, Device(version="1.0.0"), core="2.4"))
        assert_status(r, 200, "legacy device")
        payload, sig, _ = split_esp8266(r.body)
        assert payload == img
        assert legacy_digest(pub, sig) == hashlib.sha256(img).digest(), \
            "the legacy form must carry the raw digest (no DigestInfo)"
        assert not verify_pkcs1_sha256(pub, payload, sig), "legacy form must differ from the new one"


def test_signed_image_is_byte_identical_to_openssl_dgst_sign():
    with Server() as srv:
        signing_server(srv)
        img = make_image("esp8266", 65_536, seed=32, flash_size="4M").read_bytes()
        path = scratch_file("s32.bin", img)
        srv.add_release("door", path, "2.0.0")
        srv.start()
        r = srv.send(esp8266("/update/door", srv.port, Device(version="1.0.0")))
        assert_status(r, 200)
        want = openssl("dgst", "-sha256", "-sign", str(srv.data_dir / "keys" / "fleet.key"),
                       str(path)).stdout
        assert len(want) == 256
        assert r.body == img + want + struct.pack("<I", len(want)), \
            "must equal payload ‖ `openssl dgst -sha256 -sign` ‖ length word"


def test_unsigned_image_never_served_without_private_key():
    with Server() as srv:
        pub = signing_server(srv)
        # Offline signing: only the public half stays on the server.
        key = srv.data_dir / "keys" / "fleet.key"
        offline = Path(tempfile.mkdtemp(dir=session_dir())) / "fleet.key"
        shutil.move(str(key), str(offline))
        token = srv.token("publish")
        srv.start()
        img_path = make_image("esp8266", 100_000, seed=33, flash_size="4M")
        r = curl_publish(srv, "door", img_path, token, version="1.0.0")
        assert r.status == 422, f"unsigned upload without the private key: {r.describe()}"
        assert r.json()["error"]["code"] == "signature_invalid"
        assert srv.releases("door", token) == [], "nothing may be stored"
        resp = srv.send(esp8266("/update/door", srv.port, Device(version="0.1")))
        assert resp.status == 304, f"nothing to serve: {resp.describe()}"

        # Signed offline with openssl, uploaded with signed=1: verified, stored, served as is.
        img = img_path.read_bytes()
        sig = openssl("dgst", "-sha256", "-sign", str(offline), str(img_path)).stdout
        signed = scratch_file("s33.signed", img + sig + struct.pack("<I", len(sig)))
        r = srv.api("POST", "/api/v1/products/door/releases?version=1.0.0&signed=1", token,
                    body=signed.read_bytes(), headers=[("Content-Type", "application/octet-stream")])
        assert_status(r, 201, "pre-signed upload")
        resp = srv.send(esp8266("/update/door", srv.port, Device(version="0.1")))
        assert_image(resp, signed.read_bytes(), "1.0.0", "pre-signed image served byte for byte")
        assert verify_pkcs1_sha256(pub, img, sig)


def test_presigned_upload_that_fails_verification_is_refused_and_nothing_stored():
    with Server() as srv:
        signing_server(srv)
        token = srv.token("publish")
        srv.start()
        img_path = make_image("esp8266", 80_000, seed=34, flash_size="4M")
        img = img_path.read_bytes()
        sig = openssl("dgst", "-sha256", "-sign", str(srv.data_dir / "keys" / "fleet.key"),
                      str(img_path)).stdout
        good = img + sig + struct.pack("<I", len(sig))
        for name, bad in (("flipped payload byte", good[:100] + bytes([good[100] ^ 1]) + good[101:]),
                          ("flipped signature byte", good[:-10] + bytes([good[-10] ^ 1]) + good[-9:]),
                          ("wrong length word", good[:-4] + struct.pack("<I", 255)),
                          ("truncated", good[:-1]),
                          ("unsigned marked signed", img)):
            r = srv.api("POST", "/api/v1/products/door/releases?version=9.9.9&signed=1", token,
                        body=bad, headers=[("Content-Type", "application/octet-stream")])
            assert_api_error(r, 422, "signature_invalid", name)
        assert srv.releases("door", token) == [], "a refused upload stores nothing"
        blobs = [p for p in (srv.data_dir / "blobs").rglob("*") if p.is_file()]
        assert blobs == [], f"no blob may be left: {blobs}"


def compressible_image(seed, embed=b""):
    """A valid ESP8266 image whose body is a long run of zeros, so gzip pays off; EMBED (a
    public key's PEM, as the core's signing build puts it into firmware) goes at 8 KiB."""
    base = bytearray(make_image("esp8266", 131_072, seed=seed, flash_size="4M").read_bytes())
    base[4096:] = bytes(len(base) - 4096)
    base[8192:8192 + len(embed)] = embed
    return bytes(base)


def test_signed_gzip_only_to_devices_declared_core_3():
    # Issue 8: a 2.7.x core verifies a signed gzip image, then boots it with the trailer
    # (docs/SIGNING.md): undeclared devices get the plain signed form; after the operator
    # declares core >= 3.0, a device whose firmware carries the product's key gets signed-gzip.
    with Server() as srv:
        pub = signing_server(srv, extra=("--gzip", "on"))
        first = compressible_image(34, embed=pub.read_bytes())
        keyless = compressible_image(33)  # signed by otad, but built without public.key
        base = compressible_image(35, embed=pub.read_bytes())
        srv.add_release("door", scratch_file("s33.bin", keyless), "2.8.0")
        srv.add_release("door", scratch_file("s34.bin", first), "2.9.0")
        srv.add_release("door", scratch_file("s35.bin", base), "3.0.0")
        srv.start()
        shaped_27 = Device(version="2.9.0", sketch_md5=md5_hex(first))
        r = srv.send(esp8266("/update/door", srv.port, shaped_27, core="2.7"))
        assert_status(r, 200, "2.7-shaped device, nothing declared")
        payload, sig, sig_len = split_esp8266(r.body)
        assert payload == base, "the plain signed form: the image, uncompressed"
        assert sig_len == 256 and verify_pkcs1_sha256(pub, payload, sig), \
            "its trailer must verify with the product's key"
        assert r.header_values("x-md5") == [md5_hex(r.body)]

        srv.cli_ok("product", "set", "door", "--core-min", "3.0")

        def gzip_served():
            resp = srv.send(esp8266("/update/door", srv.port, shaped_27, core="3.1"))
            return resp if resp.status == 200 and resp.body[:2] == b"\x1f\x8b" else None
        r = wait_until(gzip_served, what="signed-gzip after the declaration")
        payload, sig, _ = split_esp8266(r.body)
        assert len(payload) % 4 == 0, "3.1.0-3.1.2 verify only payloads of a multiple of 4 (§7.4)"
        assert len(r.body) < len(base)
        assert verify_pkcs1_sha256(pub, payload, sig)
        assert gzip.decompress(payload) == base

        # Still never to a device that may not check signatures (its firmware is unknown, or
        # a release otad signed that was built without the key, or a digest otad does not know
        # with a known version), nor to one whose firmware says it runs 2.7.4, nor before 2.6.
        for what, dev, path, core in (
                ("unknown firmware", Device(version="0.5", sketch_md5="0" * 32), "/update/door", "3.1"),
                ("signed but keyless firmware", Device(version="2.8.0", sketch_md5=md5_hex(keyless)),
                 "/update/door", "3.1"),
                ("unknown digest, known version", Device(version="2.9.0", sketch_md5="1" * 32),
                 "/update/door", "3.1"),
                ("?core=2_7_4", shaped_27, "/update/door?core=2_7_4", "2.7"),
                ("no Chip-ID", shaped_27, "/update/door", "2.4")):
            r = srv.send(esp8266(path, srv.port, dev, core=core))
            assert_status(r, 200, what)
            payload, sig, _ = split_esp8266(r.body)
            assert payload == base, f"{what}: the uncompressed signed form"
        # The device's own word is enough: ?core=3_1_2 from firmware the product signed.
        srv.cli_ok("product", "set", "door", "--core-min", "none")
        r = wait_until(lambda: (lambda x: x if x.body[:2] != b"\x1f\x8b" else None)(
            srv.send(esp8266("/update/door", srv.port, shaped_27, core="3.1"))),
            what="plain signed once the declaration is withdrawn")
        r = srv.send(esp8266("/update/door?core=3_1_2", srv.port, shaped_27, core="3.1"))
        assert r.body[:2] == b"\x1f\x8b", f"?core=3_1_2: signed-gzip: {r.describe()}"


def test_legacy_form_by_default_and_warning_when_off():
    # Issue 8: a 2.5.x-shaped device (no Chip-ID) on a new signing product gets the 2.5.x
    # form; with it turned off it still gets the current form, and the product says how many
    # devices are affected and what fixes it.
    with Server() as srv:
        pub = signing_server(srv)
        img = make_image("esp8266", 90_000, seed=38, flash_size="4M").read_bytes()
        path = scratch_file("s38.bin", img)
        srv.add_release("door", path, "1.0.0")
        token = srv.token("read")
        listed = srv.cli_ok("product", "list", "--json").json()["products"][0]
        assert listed["signing"]["legacy"] is True, f"the 2.5.x form is on by default: {listed}"
        srv.start()
        old = Device(sta_mac="18:FE:AA:00:00:38", version="0.9.0")
        r = srv.send(esp8266("/update/door", srv.port, old, core="2.4"))
        assert_status(r, 200, "2.5-shaped device")
        payload, sig, _ = split_esp8266(r.body)
        assert legacy_digest(pub, sig) == hashlib.sha256(img).digest(), "the 2.5.x form"

        srv.cli_ok("product", "set", "door", "--legacy-signature", "off")
        img2 = make_image("esp8266", 90_000, seed=39, flash_size="4M").read_bytes()
        path2 = scratch_file("s39.bin", img2)
        srv.add_release("door", path2, "1.1.0")
        r = wait_until(lambda: (lambda x: x if x.header("x-version") == "1.1.0" else None)(
            srv.send(esp8266("/update/door", srv.port, old, core="2.4"))), what="1.1.0 offered")
        assert_status(r, 200, "2.5-shaped device, legacy off: still served")
        payload, sig, _ = split_esp8266(r.body)
        assert payload == img2 and verify_pkcs1_sha256(pub, payload, sig), "the current form"
        srv.send(esp8266("/update/door", srv.port, old, core="2.4"))  # it checks in again

        def warned():
            p = srv.api("GET", "/api/v1/products/door", token).json()["product"]
            return p if p["delivery_warnings"] else None
        product = wait_until(warned, what="the product's delivery warning")
        (warning,) = product["delivery_warnings"]
        assert warning["code"] == "no_legacy_form" and warning["devices"] == 1, warning
        assert "--legacy-signature on" in warning["fix"] and "door" in warning["fix"], warning
        text = srv.cli_ok("product", "list").stdout
        assert "warning: 1 device(s)" in text and "Chip-ID" in text, text
        listed = srv.cli_ok("product", "list", "--json").json()["products"][0]
        assert listed["delivery_warnings"][0]["code"] == "no_legacy_form", listed
        assert srv.log().count("no_legacy_form") == 1, "logged once per product, not per check-in"
        dev = srv.devices("door", token)["devices"][0]
        assert dev["delivery_issue"] == "no_legacy_form", dev

        # The fix as the warning says it: the form back on, the same bytes again.
        srv.cli_ok("product", "set", "door", "--legacy-signature", "on")
        srv.add_release("door", path2, "1.1.0")
        rel = [x for x in srv.releases("door", token) if x["version"] == "1.1.0"][0]
        assert "signed-legacy" in {v["kind"] for v in rel["variants"]}, rel

        def legacy_again():
            x = srv.send(esp8266("/update/door", srv.port, old, core="2.4"))
            digest = legacy_digest(pub, split_esp8266(x.body)[1])
            return x if digest == hashlib.sha256(img2).digest() else None
        wait_until(legacy_again, what="the 2.5.x form after republishing")
        wait_until(lambda: not srv.api("GET", "/api/v1/products/door", token).json()
                   ["product"]["delivery_warnings"], what="the warning to clear")


def test_gzip_upload_serves_every_core():
    # An image uploaded already compressed: otad inflates it for the devices that cannot take
    # gzip (cores before 2.6; 2.6.x unless the product says its fleet runs >= 2.7), so none is
    # refused merely for lack of gzip, and none is handed gzip it would refuse.
    with Server() as srv:
        srv.add_product("door", "esp8266")
        gz_path = make_image("esp8266", 64_000, seed=40, flash_size="4M", gzip=True)
        raw = gzip.decompress(gz_path.read_bytes())
        srv.add_release("door", gz_path, "1.0.0")
        srv.start()
        for what, core in (("no Chip-ID", "2.4"), ("Chip-ID, gzip off", "3.1")):
            r = srv.send(esp8266("/update/door", srv.port, Device(version="0.1"), core=core))
            assert_status(r, 200, what)
            assert r.body == raw, f"{what}: the image inflated"
            assert r.header_values("x-md5") == [md5_hex(raw)]
        srv.cli_ok("product", "set", "door", "--gzip", "on")
        r = wait_until(lambda: (lambda x: x if x.body[:2] == b"\x1f\x8b" else None)(
            srv.send(esp8266("/update/door", srv.port, Device(version="0.1"), core="3.1"))),
            what="gzip once the product says its fleet runs >= 2.7")
        assert r.body == gz_path.read_bytes(), "the gzip form as uploaded"
        r = srv.send(esp8266("/update/door", srv.port, Device(version="0.1"), core="2.4"))
        assert r.body == raw, "still inflated for a core before 2.6"


def test_product_declaration_and_core_query_are_validated():
    with Server() as srv:
        srv.add_product("door", "esp8266")
        srv.add_product("cam", "esp32")
        token = srv.token("admin")
        srv.start()
        ok = srv.api("PATCH", "/api/v1/products/door", token, json_body={"signing": {"core_min": "3.0"}})
        assert_status(ok, 200, "core_min 3.0")
        assert ok.json()["product"]["signing"]["core_min"] == "3.0"
        assert ok.json()["product"]["delivery_warnings"] == []
        cleared = srv.api("PATCH", "/api/v1/products/door", token, json_body={"signing": {"core_min": None}})
        assert cleared.json()["product"]["signing"]["core_min"] is None
        for what, product, value in (("below 2.6", "door", "2.5"), ("a pre-release", "door", "3.0.0-rc1"),
                                     ("not a version", "door", "latest"), ("a number", "door", 3),
                                     ("an ESP32 product", "cam", "3.0")):
            r = srv.api("PATCH", f"/api/v1/products/{product}", token,
                        json_body={"signing": {"core_min": value}})
            assert_api_error(r, 400, "bad_request", f"core_min {what}")
        bad = srv.cli("product", "set", "door", "--core-min", "2.4")
        assert bad.code != 0 and "2.6" in bad.stderr, bad.describe()
        # ?core= is advisory: a malformed one never refuses a check-in.
        img = make_image("esp8266", 60_000, seed=41, flash_size="4M")
        srv.add_release("door", img, "1.0.0")
        for value in ("3_1_2", "x" * 40, "3.1.2+local"):
            r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(srv.send(esp8266(
                f"/update/door?core={value}", srv.port, Device(version="0.1"), core="3.1"))),
                what=f"?core={value} answered")
            assert r.body == img.read_bytes()


def test_esp32_signing_product_serves_pss_block():
    with Server() as srv:
        pub = signing_server(srv, platform="esp32")
        img = make_image("esp32", 150_000, seed=36).read_bytes()
        srv.add_release("door", scratch_file("s36.bin", img), "1.0.0")
        srv.start()
        r = srv.send(esp32("/update/door", srv.port, Device(version="0.9.0", sketch_md5=None,
                                                             sketch_sha256=None)))
        assert_status(r, 200)
        assert len(r.body) == len(img) + 512
        assert r.body[:len(img)] == img
        block = r.body[len(img):]
        sig = block[:256]
        assert block[256:] == bytes(256), "zero padding to 512 bytes (§8)"
        work = Path(tempfile.mkdtemp(dir=session_dir()))
        (work / "p").write_bytes(img)
        (work / "s").write_bytes(sig)
        v = openssl("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                    "rsa_pss_saltlen:max", "-verify", str(pub), "-signature", str(work / "s"),
                    str(work / "p"))
        assert v.returncode == 0, f"openssl must verify RSA-PSS: {v.stdout!r} {v.stderr!r}"


def test_device_registry_records_the_signing_key():
    with Server() as srv:
        signing_server(srv)
        img = make_image("esp8266", 60_000, seed=37, flash_size="4M").read_bytes()
        srv.add_release("door", scratch_file("s37.bin", img), "1.0.0")
        token = srv.token("read")
        srv.start()
        r = srv.send(esp8266("/update/door", srv.port, Device(sta_mac="18:FE:AA:00:00:37",
                                                               version="0.5")))
        assert_status(r, 200)
        fingerprint = srv.cli_ok("key", "list").stdout.split()[2]
        assert len(fingerprint) == 64

        def recorded():
            devs = srv.devices("door", token)["devices"]
            return devs if devs and devs[0].get("last_key") else None
        devs = wait_until(recorded, what="the device's last key")
        assert devs[0]["last_key"] == fingerprint
        rel = srv.releases("door", token)[0]
        assert rel["signed_by"] == fingerprint
        kinds = {v["kind"] for v in rel["variants"]}
        assert kinds == {"signed", "signed-legacy"}, f"no unsigned form is stored: {kinds}"
