"""Blob integrity: a stored image whose bytes no longer hash to its name
(same size, so the size check alone would pass and the database's x-MD5
would be sent with the wrong bytes) is never served, in the process that
served it before and in a fresh one; `otad store verify` lists it and exits
non-zero; restoring the file serves it again. On SQLite in every stage: there
the store is the only copy (a node on PostgreSQL fetches a damaged blob again,
test_blobs.py)."""

import os

import devices
from devices import Device
from harness import Server, assert_status, make_image, md5_hex, sha256_hex


def checkin(srv):
    dev = Device(sta_mac="18:FE:AA:00:10:01", version="1.0.0", sketch_md5="0" * 32)
    return srv.send(devices.esp8266("/update/door", srv.port, dev))


def test_damaged_blob_is_refused_and_verify_reports_it():
    with Server(sqlite=True) as srv:
        srv.add_product("door", "esp8266")
        srv.add_release("door", make_image("esp8266", 120_000, seed=80, flash_size="4M"), "1.0.0")
        image = make_image("esp8266", 150_000, seed=81, flash_size="4M")
        srv.add_release("door", image, "1.1.0")
        data = image.read_bytes()
        sha = sha256_hex(data)
        blob = srv.data_dir / "blobs" / sha[:2] / sha
        assert blob.read_bytes() == data, f"the plain form is not stored as {blob}"
        assert srv.cli("store", "verify").code == 0

        srv.start()
        resp = checkin(srv)
        assert_status(resp, 200, "intact blob")
        assert resp.body == data and resp.header("x-MD5") == md5_hex(data), resp.describe()

        # One byte flipped in place: same size, other bytes.
        with open(blob, "r+b") as f:
            f.seek(70_000)
            byte = f.read(1)
            f.seek(70_000)
            f.write(bytes([byte[0] ^ 0x01]))
        for attempt in range(2):
            resp = checkin(srv)
            assert_status(resp, 500, f"damaged blob, check-in {attempt + 1}")
            assert data[:4096] not in resp.raw_body, f"damaged image bytes were sent: {resp.describe()}"
        log = srv.log()
        assert log.count(f"blob {sha} is damaged") == 1, f"log the damage once, not per request: {log}"

        r = srv.cli("store", "verify")
        assert r.code == 1, r.describe()
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].split()[:2] == ["damaged", sha], r.describe()
        assert "door sketch 1.1.0 (plain)" in lines[0], r.describe()

        # A fresh process refuses it at its first open as well.
        srv.stop()
        srv.start()
        assert_status(checkin(srv), 500, "damaged blob after a restart")

        # Restored from a backup (a new file): checked again and served.
        tmp = blob.with_name(sha + ".restore")
        tmp.write_bytes(data)
        os.replace(tmp, blob)
        resp = checkin(srv)
        assert_status(resp, 200, "restored blob")
        assert resp.body == data, resp.describe()
        assert srv.cli("store", "verify").code == 0
