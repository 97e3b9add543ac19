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


def test_gzip_product_serves_signed_gzip_with_aligned_payload():
    with Server() as srv:
        pub = signing_server(srv, extra=("--gzip", "on"))
        # Compressible content: mkimage with a large image of low entropy is not available,
        # so build one: a valid header followed by a long run of a repeated pattern.
        base = bytearray(make_image("esp8266", 131_072, seed=35, flash_size="4M").read_bytes())
        base[4096:] = bytes(len(base) - 4096)
        path = scratch_file("s35.bin", bytes(base))
        srv.add_release("door", path, "3.0.0")
        srv.start()
        r = srv.send(esp8266("/update/door", srv.port, Device(version="1.0.0"), core="3.1"))
        assert_status(r, 200)
        payload, sig, _ = split_esp8266(r.body)
        assert payload[:2] == b"\x1f\x8b", "a gzip payload"
        assert len(payload) % 4 == 0, "3.1.0-3.1.2 verify only payloads of a multiple of 4 (§7.4)"
        assert len(r.body) < len(base)
        assert verify_pkcs1_sha256(pub, payload, sig)
        assert gzip.decompress(payload) == bytes(base)
        # A core older than 2.6 cannot take gzip: it gets the uncompressed signed form.
        r = srv.send(esp8266("/update/door", srv.port, Device(version="1.0.0"), core="2.4"))
        payload, sig, _ = split_esp8266(r.body)
        assert payload == bytes(base)


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
        assert {v["kind"] for v in rel["variants"]} == {"signed"}, "no unsigned form is stored"
