"""Devices' own TLS stacks against otad's HTTPS listener (docs/TLS.md).

tests/tools/tls_client_bearssl is an ESP8266 (BearSSL::WiFiClientSecure, the
library the ESP8266 core's client is built on); tests/tools/tls_client_mbedtls
an ESP32 (esp_https_ota and arduino-esp32 over mbedTLS). The fleet's PKI is
otad's own: `otad tls ca init` and `otad tls cert`, and the trust anchor a
device gets is what `otad tls export` prints. Every test reads what was
negotiated on the wire (tls_clients.py), so a stack that quietly fell back
to something else fails.
"""

import hashlib
import re
import signal

import tls_clients
import tlsutil
from devices import Device, esp8266_headers
from harness import HOST, Server, make_image, md5_hex, wait_until

SERVER_NAME = "otad.test"
IMAGE = 1 << 20


def fleet_server(srv, *, rsa=True, args=()):
    """The fleet CA and a server certificate (ECDSA, and RSA unless RSA is False) made with
    otad's own CLI, otad started with an HTTPS listener; returns the CA file a sketch embeds."""
    srv.cli_ok("tls", "ca", "init", "--name", "e2e fleet CA")
    srv.cli_ok("tls", "cert", "--host", SERVER_NAME, "--ip", HOST, *([] if rsa else ["--no-rsa"]))
    pem = srv.cli_ok("tls", "export", "--format", "pem").stdout
    ca = srv.tmp / "fleet-ca.pem"
    ca.write_text(pem)
    srv.start(["--listen-tls", f"{HOST}:0"] + list(args))
    return ca


def publish(srv, seed=3):
    path = make_image("esp8266", IMAGE, seed=seed, flash_size="4M")
    srv.add_release("demo", path, "2.0.0")
    return path.read_bytes()


def checkin_args(dev=None):
    """The check-in of a stock ESP8266 core 3.1 (devices.py), as the clients' request options."""
    dev = dev or Device(version="1.0.0", sketch_md5="0" * 32, free_space=8 * IMAGE)
    args = ["--path", "/update/demo"]
    for name, value in esp8266_headers(dev, "3.1"):
        args += ["--header", f"{name}: {value}"]
    return args


def assert_image(c, img, what):
    assert c["handshake"] == "ok", f"{what}: handshake {c['handshake']} ({c['error']})"
    assert c["status"] == 200, f"{what}: status {c['status']} {c.get('header_lines')}"
    assert c["body_bytes"] == len(img) and c["body_complete"], f"{what}: {c['body_bytes']} bytes"
    assert c["body_md5"] == md5_hex(img), f"{what}: body MD5 {c['body_md5']}"
    headers = {k.lower(): v for k, v in c["headers"].items()}
    assert headers.get("x-md5") == md5_hex(img), f"{what}: x-MD5 {headers.get('x-md5')}"


def test_esp8266_small_buffers_verify_the_fleet_ca_download_and_resume():
    """The profile docs/TLS.md gives a sketch: setTrustAnchors(fleet CA), setBufferSizes(512,
    512), setSession. max_fragment_length 512 is negotiated and every record of a 1 MiB image
    fits the 512-byte buffer; the second connection resumes the first session."""
    with Server() as srv:
        srv.add_product("demo")
        img = publish(srv)
        ca = fleet_server(srv)
        r = tls_clients.bearssl(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--bufsize", 512,
                                "--connections", 2, "--require-resume", *checkin_args())
        assert len(r) == 2, r.describe()
        for c in r:
            what = f"connection {c['connection']}"
            assert_image(c, img, what)
            assert c["version"] == "TLS1.2"
            assert c["max_frag_len"] == 512 and c["max_frag_len_respected"] is True, \
                f"{what}: records up to {c['wire']['largest_app_record_in']} bytes"
            assert c["wire"]["largest_app_record_in"] <= 512 + 325, c["wire"]
            assert c["heap"]["iobuf_in"] == 512 + 325 and c["heap"]["iobuf_out"] == 512 + 85
        first, second = r[0], r[1]
        assert first["wire"]["server_hello"]["max_fragment_length"] == 512
        assert "ECDSA" in first["cipher"], first["cipher"]  # the ECDSA certificate went to BearSSL
        assert first["resumed"] is False and second["resumed"] is True, r.describe()
        assert second["wire"]["server_handshake_messages"] == [2], second["wire"]


def test_esp8266_with_the_wrong_ca_fails_the_handshake():
    with Server() as srv:
        srv.add_product("demo")
        fleet_server(srv)
        wrong, _ = tlsutil.make_ca(srv.tmp / "other-ca", name="e2e fleet CA")  # same name, other key
        r = tls_clients.bearssl(srv.tls_port, "--ca", wrong, "--server-name", SERVER_NAME, "--bufsize", 512,
                                *checkin_args(), check=False)
        assert r.code != 0 and r[0]["handshake"] == "failed", r.describe()
        assert r[0]["error"]["name"] == "BR_ERR_X509_NOT_TRUSTED", r[0]["error"]
        assert r[0]["status"] is None and r[0]["body_bytes"] == 0


def test_esp8266_default_buffers_and_the_other_ways_to_pin():
    """The core's default buffers (16 KB in, 512 out: BearSSL still announces 512), a SHA-1
    fingerprint (setFingerprint), the server's public key (setKnownKey) and the reduced RSA
    profile (setCiphersLessSecure), each with what `otad tls export` printed."""
    with Server() as srv:
        srv.add_product("demo")
        img = publish(srv)
        ca = fleet_server(srv)
        fp_text = srv.cli_ok("tls", "export", "--format", "fingerprint").stdout
        fingerprints = re.findall(r"SHA1\s+([0-9A-F:]{59})", fp_text, re.I)
        assert fingerprints, fp_text
        pubkey = srv.tmp / "server-pubkey.pem"
        pubkey.write_text(srv.cli_ok("tls", "export", "--format", "pubkey").stdout.split(
            "-----END PUBLIC KEY-----")[0] + "-----END PUBLIC KEY-----\n")

        default = tls_clients.bearssl(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, *checkin_args())
        assert_image(default[0], img, "default buffers")
        assert default[0]["max_frag_len"] == 512 and default[0]["max_frag_len_respected"]

        pinned = tls_clients.bearssl(srv.tls_port, "--fingerprint", fingerprints[0].replace(":", ""),
                                     "--server-name", SERVER_NAME, "--bufsize", 512, *checkin_args())
        assert_image(pinned[0], img, "setFingerprint")

        known = tls_clients.bearssl(srv.tls_port, "--known-key", pubkey, "--server-name", SERVER_NAME,
                                    "--bufsize", 512, *checkin_args())
        assert_image(known[0], img, "setKnownKey")

        reduced = tls_clients.bearssl(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--bufsize", 512,
                                      "--profile", "reduced-rsa", *checkin_args())
        assert_image(reduced[0], img, "reduced RSA profile")
        assert reduced[0]["cipher"].startswith(("0x003D", "0x003C", "0x0035", "0x002F")), reduced[0]["cipher"]


def test_esp8266_session_survives_a_certificate_reload_and_the_ca_pins_the_renewal():
    """A renewal under the fleet CA (`otad tls cert` again, SIGHUP): a device that pins the CA
    keeps working without new firmware, and the session it holds still resumes."""
    with Server() as srv:
        srv.add_product("demo")
        img = publish(srv)
        ca = fleet_server(srv, rsa=False)
        before = tls_clients.bearssl(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--bufsize", 512,
                                     *checkin_args())
        leaf_before = (srv.data_dir / "tls" / "server.pem").read_bytes()
        srv.cli_ok("tls", "cert", "--host", SERVER_NAME, "--ip", HOST, "--no-rsa")
        assert (srv.data_dir / "tls" / "server.pem").read_bytes() != leaf_before
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "tls: reloaded" in srv.log(), 5, 0.05, "the reload")
        after = tls_clients.bearssl(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--bufsize", 512,
                                    "--connections", 2, "--require-resume", *checkin_args())
        assert_image(before[0], img, "before the renewal")
        for c in after:
            assert_image(c, img, f"after the renewal, connection {c['connection']}")
        assert after[1]["resumed"] is True


def test_esp32_mbedtls_checks_in_and_downloads_with_ca_verification():
    with Server() as srv:
        srv.add_product("demo")
        img = publish(srv)
        ca = fleet_server(srv)
        r = tls_clients.mbedtls(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--connections", 2,
                                "--require-resume", *checkin_args())
        for c in r:
            assert_image(c, img, f"mbedTLS connection {c['connection']}")
            assert c["version"] == "TLS1.2"
        assert r[1]["resumed"] is True, r.describe()
        # mbedTLS 2.x cannot join a handshake message split across records: with 1024-byte
        # records the RSA certificate (about 650 bytes, its root left out) still fits one.
        small = tls_clients.mbedtls(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--mfl", 1024,
                                    *checkin_args())
        assert_image(small[0], img, "mbedTLS with max_fragment_length 1024")
        assert small[0]["max_frag_len"] == 1024 and small[0]["max_frag_len_respected"], small[0]["wire"]


def test_esp32_mbedtls_512_byte_records_with_an_ecdsa_certificate():
    """With max_fragment_length 512 the Certificate message must fit one record for mbedTLS:
    an ECDSA leaf alone does, because otad leaves the fleet CA (the device's own trust
    anchor) out of the chain it sends."""
    with Server() as srv:
        srv.add_product("demo")
        img = publish(srv)
        ca = fleet_server(srv, rsa=False)
        r = tls_clients.mbedtls(srv.tls_port, "--ca", ca, "--server-name", SERVER_NAME, "--mfl", 512,
                                *checkin_args())
        assert_image(r[0], img, "mbedTLS with max_fragment_length 512")
        assert r[0]["max_frag_len"] == 512 and r[0]["max_frag_len_respected"], r[0]["wire"]
        assert r[0]["wire"]["largest_app_record_in"] <= 512 + 64, r[0]["wire"]
