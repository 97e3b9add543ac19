"""ESP32 Secure Boot v2 end to end (issue 15, item 3; docs/SIGNING.md, "Secure Boot v2").
What a device receives is checked by tests/tools/sbv2_reference.py, an independent
implementation with Python's cryptography; images signed by it are uploaded as a build
that signs with espsecure.py would, and damaged ones are refused with a 4xx."""

import hashlib
import subprocess
import sys
from pathlib import Path

from devices import Device, esp32
from harness import (Server, assert_api_error, assert_status, make_image, md5_hex, scratch_file,
                     session_dir, wait_until)

REFERENCE = Path(__file__).resolve().parent.parent / "tools" / "sbv2_reference.py"


def reference(*args):
    return subprocess.run([sys.executable, str(REFERENCE)] + [str(a) for a in args],
                          capture_output=True, timeout=60)


def reference_digest(pem):
    r = reference("digest", pem)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def reference_verify(data, *extra):
    path = scratch_file("sb-verify.bin", data)
    return reference("verify", path, *extra)


def secure_boot_server(srv, keys=(("k1", "rsa-3072"), ("k2", "ecdsa-p256"))):
    srv.add_product("cam", "esp32")
    for name, key_type in keys:
        srv.cli_ok("key", "generate", "--type", key_type, "--name", name)
    srv.cli_ok("product", "set", "cam", "--secure-boot-keys", ",".join(n for n, _ in keys))
    return [srv.data_dir / "keys" / f"{n}.pub" for n, _ in keys]


def checkin(srv, **device):
    dev = Device(version="0.9.0", sketch_md5=None, sketch_sha256=None).but(**device)
    return srv.send(esp32("/update/cam", srv.port, dev))


def test_secure_boot_product_serves_the_image_signed_with_every_key():
    with Server() as srv:
        pubs = secure_boot_server(srv)
        digests = [reference_digest(p) for p in pubs]
        # otad key show prints the digest espefuse.py shows once it is burned.
        shown = srv.cli_ok("key", "show", "k1").stdout
        assert f"secure_boot_digest {digests[0]}" in shown, shown
        shown = srv.cli_ok("key", "show", "k2").stdout
        assert f"secure_boot_digest {digests[1]}" in shown, shown
        img_path = make_image("esp32", 150_001, seed=51, hash_appended=True)
        img = img_path.read_bytes()
        srv.add_release("cam", img_path, "1.0.0")
        token = srv.token("read")
        srv.start()

        r = checkin(srv)
        assert_status(r, 200, "an ESP32 of a secure-boot product")
        body = r.body
        assert len(body) % 4096 == 0 and len(body) == (len(img) + 4095) // 4096 * 4096 + 4096
        assert r.header("x-MD5") == md5_hex(body), "x-MD5 is of the bytes served"
        assert int(r.header("Content-Length")) == len(body)
        v = reference_verify(body, "--blocks", "2", "--digest", digests[0], "--digest", digests[1],
                             "--image", img_path)
        assert v.returncode == 0, f"the reference verifier refused it: {v.stderr!r}"
        assert v.stdout.decode().split() == ["rsa-3072", digests[0], "ecdsa-p256", digests[1]]
        # Byte for byte the layout espsecure.py writes for these signatures.
        rebuilt = reference("reencode", scratch_file("sb-served.bin", body))
        assert rebuilt.returncode == 0, rebuilt.stderr

        rel = srv.releases("cam", token)[0]
        assert {v["kind"] for v in rel["variants"]} == {"secure-boot"}, rel["variants"]
        # Running it (a secure-boot device reports the MD5 of image, padding and sector): current.
        r = checkin(srv, version="1.0.0", sketch_md5=md5_hex(body))
        assert_status(r, 304, "a device running the signed image")
        # A device without secure boot reports the MD5 of the image alone: current too.
        r = checkin(srv, version="0.1", sketch_md5=md5_hex(img))
        assert_status(r, 304, "a device without secure boot running it")

        # The image URL (ESP-IDF's esp_https_ota) serves the same form; HEAD and Range describe it.
        def image_request(method, extra=""):
            return srv.send(f"{method} /images/cam/1.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
                            f"Connection: close\r\n\r\n".encode())
        r = image_request("GET")
        assert_status(r, 200, "the image URL")
        assert r.body == body
        r = image_request("HEAD")
        assert_status(r, 200, "HEAD of the image URL")
        assert int(r.header("Content-Length")) == len(body) and r.body == b""
        r = image_request("GET", f"Range: bytes={len(body) - 4096}-\r\n")
        assert_status(r, 206, "the signature sector by Range")
        assert r.body == body[-4096:]
        assert r.header("Content-Range") == f"bytes {len(body) - 4096}-{len(body) - 1}/{len(body)}"


def test_settings_refuse_keys_secure_boot_cannot_use():
    with Server() as srv:
        srv.add_product("cam", "esp32")
        srv.add_product("door", "esp8266")
        srv.cli_ok("key", "generate", "--type", "rsa-2048", "--name", "small")
        srv.cli_ok("key", "generate", "--type", "ecdsa-p384", "--name", "big")
        r = srv.cli("product", "set", "cam", "--secure-boot-keys", "small")
        assert r.code != 0 and "rsa-3072" in r.stderr, r.describe()
        r = srv.cli("product", "set", "door", "--secure-boot-keys", "big")
        assert r.code != 0 and "ESP32" in r.stderr, r.describe()
        r = srv.cli("product", "set", "cam", "--secure-boot-keys", "big,big")
        assert r.code != 0 and "twice" in r.stderr, r.describe()
        token = srv.token("admin")
        srv.start()
        r = srv.api("PATCH", "/api/v1/products/cam", token,
                    json_body={"signing": {"secure_boot_keys": ["big"]}})
        assert_status(r, 200)
        assert r.json()["product"]["signing"]["secure_boot_keys"] == ["big"]
        r = srv.api("PATCH", "/api/v1/products/cam", token,
                    json_body={"signing": {"secure_boot_keys": ["small"]}})
        assert_api_error(r, 400, r.json()["error"]["code"], "an rsa-2048 key")
        r = srv.api("PATCH", "/api/v1/products/cam", token,
                    json_body={"signing": {"secure_boot_keys": []}})
        assert_status(r, 200)
        assert r.json()["product"]["signing"]["secure_boot_keys"] == []


def upload(srv, token, version, data):
    return srv.api("POST", f"/api/v1/products/cam/releases?version={version}", token, body=data,
                   headers=[("Content-Type", "application/octet-stream")])


def test_presigned_image_is_kept_and_damaged_ones_refused():
    with Server() as srv:
        secure_boot_server(srv, keys=(("k1", "rsa-3072"),))
        srv.cli_ok("key", "generate", "--type", "ecdsa-p384", "--name", "stranger")
        keys = srv.data_dir / "keys"
        img = make_image("esp32", 90_000, seed=52).read_bytes()
        image_file = scratch_file("sb-image.bin", img)
        signed_file = session_dir() / "sb-presigned.bin"
        r = reference("sign", "--key", keys / "k1.key", image_file, signed_file)
        assert r.returncode == 0, r.stderr
        presigned = signed_file.read_bytes()
        token = srv.token("admin")
        srv.start()

        r = upload(srv, token, "2.0.0", presigned)
        assert_status(r, 201, "an image the build signed with the product's key")
        r = checkin(srv)
        assert_status(r, 200)
        assert r.body == presigned, "the build's signature is kept, never signed again"

        damaged = {
            "a byte of the image": 1000,
            "a byte of the padding": len(img) + 10 if len(img) % 4096 else 20,
            "a byte of the block's signature": len(presigned) - 4096 + 900,
            "the block's crc": len(presigned) - 4096 + 1196,
        }
        for n, (what, at) in enumerate(damaged.items()):
            data = bytearray(presigned)
            data[at] ^= 0x40
            r = upload(srv, token, f"2.0.{n + 1}", bytes(data))
            assert_api_error(r, 422, "signature_invalid", what)
        # Valid, but by a key the product's devices do not trust.
        other = session_dir() / "sb-stranger.bin"
        assert reference("sign", "--key", keys / "stranger.key", image_file, other).returncode == 0
        r = upload(srv, token, "2.1.0", other.read_bytes())
        assert_api_error(r, 422, "signature_invalid", "signed by another key")
        assert [rel["version"] for rel in srv.releases("cam", token)] == ["2.0.0"]


def test_presigned_image_on_a_product_without_secure_boot_is_served_as_uploaded():
    with Server() as srv:
        srv.add_product("cam", "esp32")
        srv.cli_ok("key", "generate", "--type", "ecdsa-p256", "--name", "ci")
        img = make_image("esp32", 40_000, seed=53).read_bytes()
        signed_file = session_dir() / "sb-ci.bin"
        r = reference("sign", "--key", srv.data_dir / "keys" / "ci.key",
                      scratch_file("sb-ci-image.bin", img), signed_file)
        assert r.returncode == 0, r.stderr
        presigned = signed_file.read_bytes()
        token = srv.token("admin")
        srv.start()
        damaged = bytearray(presigned)
        damaged[len(presigned) - 4096 + 50] ^= 1
        assert_api_error(upload(srv, token, "1.0.1", bytes(damaged)), 422, "signature_invalid",
                         "a damaged sector, even without secure boot keys")
        assert_status(upload(srv, token, "1.0.0", presigned), 201)
        r = checkin(srv)
        assert_status(r, 200)
        assert r.body == presigned and r.header("x-MD5") == hashlib.md5(presigned).hexdigest()


def test_release_published_before_the_keys_is_refused_until_published_again():
    with Server() as srv:
        srv.add_product("cam", "esp32")
        img_path = make_image("esp32", 30_000, seed=54)
        srv.add_release("cam", img_path, "1.0.0")
        srv.cli_ok("key", "generate", "--type", "ecdsa-p384", "--name", "k3")
        srv.cli_ok("product", "set", "cam", "--secure-boot-keys", "k3")
        digest = reference_digest(srv.data_dir / "keys" / "k3.pub")
        token = srv.token("admin")
        srv.start()
        r = checkin(srv)
        assert_status(r, 403, "a release with no secure-boot form is never served plain")
        # The same bytes again add the form the settings call for.
        assert_status(upload(srv, token, "1.0.0", img_path.read_bytes()), 200)

        def served():
            resp = checkin(srv)
            return resp if resp.status == 200 else None
        r = wait_until(served, what="the secure-boot form after publishing again")
        v = reference_verify(r.body, "--blocks", "1", "--digest", digest, "--image", img_path)
        assert v.returncode == 0, v.stderr
        kinds = {v["kind"] for v in srv.releases("cam", token)[0]["variants"]}
        assert kinds == {"plain", "secure-boot"}, kinds


def test_sign_and_verify_on_the_command_line():
    with Server() as srv:
        for name, key_type in (("a", "rsa-3072"), ("b", "ecdsa-p384"), ("c", "ecdsa-p256")):
            srv.cli_ok("key", "generate", "--type", key_type, "--name", name)
        img_path = make_image("esp32", 20_000, seed=55)
        out = session_dir() / "sb-cli.bin"
        srv.cli_ok("sign", "--key", "a,b", "--format", "secure-boot", img_path, out)
        digests = [reference_digest(srv.data_dir / "keys" / f"{k}.pub") for k in ("a", "b")]
        v = reference("verify", out, "--blocks", "2", "--digest", digests[0], "--digest",
                      digests[1], "--image", img_path)
        assert v.returncode == 0, v.stderr
        r = srv.cli_ok("verify", out, "--key", "b", "--format", "secure-boot")
        assert f"block 1: ecdsa-p384 {digests[1]}" in r.stdout and "verdict: valid" in r.stdout
        r = srv.cli("verify", out, "--key", "c", "--format", "secure-boot")
        assert r.code != 0 and "verdict: INVALID" in r.stdout, r.describe()
        data = bytearray(out.read_bytes())
        data[5] ^= 1
        damaged = scratch_file("sb-cli-damaged.bin", bytes(data))
        r = srv.cli("verify", damaged, "--key", "a", "--format", "secure-boot")
        assert r.code != 0 and "digest" in r.stderr, r.describe()
