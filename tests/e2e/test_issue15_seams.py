"""Where issue 15's parts meet (the ESP-IDF check-in, Secure Boot v2 forms, the manifests
and the anti-rollback floor), against the real daemon: what a device is told and what the
URL it is pointed at serves must be the same bytes, of a form that device boots, and a URL
built from the request's Host must not send the device anywhere else."""

import urllib.parse

from devices import IdfClient, idf_update
from harness import Server, assert_status, md5_hex, sha256_hex
from test_idf_checkin import app_for, idf_image, published, update_path


def redirect_with_host(srv, app, host):
    client = IdfClient(srv.port, update_path("?answer=redirect"), app)
    client.headers = [(n, host if n == "Host" else v) for n, v in client.headers]
    try:
        return client.request("GET")
    finally:
        client.close()


def test_redirect_refuses_a_host_that_is_no_host():
    """?answer=redirect builds Location from Host: a path, a userinfo '@' or a fragment in it
    would send the device to another server or path, so it is 400, as the manifests answer."""
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2}))
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        for host in ("evil.example/x?", "evil.example#", f"127.0.0.1:{srv.port}@evil.example",
                     "evil.example\\x"):
            resp, body = redirect_with_host(srv, app, host)
            assert resp.status == 400, (host, resp.status, resp.getheader("Location"), body)
            assert b"Host" in body, body
        # A name, an address with a port, an IPv6 literal: the 302 names them as sent.
        for host in ("ota.example", f"127.0.0.1:{srv.port}", f"[::1]:{srv.port}"):
            resp, body = redirect_with_host(srv, app, host)
            assert resp.status == 302, (host, resp.status, body)
            assert resp.getheader("Location") == f"http://{host}/images/idf/1.1.0", host


def secure_boot_idf_server(srv, *, signing=False):
    """Product idf (esp32) with a Secure Boot v2 key (and the 512-byte signing key when
    SIGNING), releases 1.0.0 and 1.1.0 built by ESP-IDF; serving."""
    srv.add_product("idf", "esp32")
    srv.cli_ok("key", "generate", "--type", "ecdsa-p256", "--name", "sb1")
    srv.cli_ok("product", "set", "idf", "--secure-boot-keys", "sb1")
    if signing:
        srv.cli_ok("key", "generate", "--type", "rsa-2048", "--name", "k512")
        srv.cli_ok("product", "set", "idf", "--signing", "required", "--key", "k512")
    out = {}
    for version, seed in (("1.0.0", 1), ("1.1.0", 2)):
        path, data, elf = idf_image(version, seed=seed, size=65_536 + 100)
        srv.add_release("idf", path, version)
        out[version] = (data, elf)
    srv.start()
    return out


def test_idf_device_on_a_secure_boot_product_gets_the_secure_boot_form_everywhere():
    """The check-in's 200, its HEAD and Ranges, and the image URL a 302 names serve one form:
    the image padded to 4096 bytes with its signature sector after it, the sector a
    secure-boot device reads at the padded end."""
    with Server() as srv:
        rel = secure_boot_idf_server(srv)
        plain, _ = rel["1.1.0"]
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        done = idf_update(srv.port, update_path(), app)
        assert done.status in (200, 206) and done.image is not None, done
        form = done.image
        padded = (len(plain) + 4095) // 4096 * 4096
        assert len(form) == padded + 4096, (len(form), len(plain))
        assert form[:len(plain)] == plain and form[len(plain):padded] == b"\xff" * (padded - len(plain))
        assert form[padded] == 0xE7, "the signature block at the padded end"

        resp, body = redirect_with_host(srv, app, f"127.0.0.1:{srv.port}")
        assert resp.status == 302, (resp.status, body)
        target = urllib.parse.urlsplit(resp.getheader("Location"))
        img = srv.get(target.path)
        assert_status(img, 200, "the image URL the 302 names")
        assert img.body == form, "the 302's URL serves the form the check-in serves"
        assert img.header("x-MD5") == md5_hex(form)
        assert img.header("ETag") == f'"{sha256_hex(form)}"'


def test_idf_device_on_a_signing_secure_boot_product_is_never_served_the_512_byte_form():
    """A product that signs the arduino-esp32 512-byte form over the secure-boot form: an
    ESP-IDF check-in gets the secure-boot form itself (the signature it checks), never the
    512-byte form esp_https_ota is not documented to take; whatever the image URL serves is
    the secure-boot image with the 512-byte block after its sector, so the sector stays at
    the padded end."""
    with Server() as srv:
        rel = secure_boot_idf_server(srv, signing=True)
        plain, _ = rel["1.1.0"]
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        done = idf_update(srv.port, update_path(), app)
        padded = (len(plain) + 4095) // 4096 * 4096
        assert done.status in (200, 206) and done.image is not None, done
        assert len(done.image) == padded + 4096 and done.image[:len(plain)] == plain, done
        assert done.image[padded] == 0xE7, "the secure-boot sector at the padded end"
        img = srv.get("/images/idf/1.1.0")
        assert_status(img, 200, "the image URL")
        padded = (len(plain) + 4095) // 4096 * 4096
        assert img.body[:len(plain)] == plain
        assert img.body[padded] == 0xE7, "the secure-boot sector at the padded end"
        assert len(img.body) == padded + 4096 + 512, len(img.body)
