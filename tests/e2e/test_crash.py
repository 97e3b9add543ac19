"""kill -9 during and right after a publish (DESIGN.md non-negotiables:
"Nothing partial is ever served: a release appears whole or not at all,
also across kill -9"). After each kill the server restarts on the same data
dir; every release the API lists must have the uploaded file's sha256 and
/images must serve exactly those bytes; the SQLite file must pass
PRAGMA integrity_check."""

import socket
import subprocess
import time

from harness import Server, assert_status, clean_env, make_image, md5_hex, otad_bin, sha256_hex

BIG = 8 * 1024 * 1024


def start_upload(srv, path, token, version, rate=None):
    """curl POSTs PATH in the background; returns the Popen (stdout: the HTTP status)."""
    argv = ["curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}",
            "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/octet-stream",
            "--data-binary", f"@{path}"]
    if rate:
        argv += ["--limit-rate", rate]
    argv.append(srv.url(f"/api/v1/products/door/releases?version={version}"))
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc):
    try:
        out, _ = proc.communicate(timeout=35)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    text = out.decode().strip()
    return int(text) if text.isdigit() else 0


def check_store(srv, token, attempts):
    """Every listed release is whole; returns the set of versions listed."""
    listed = {r["version"]: r for r in srv.releases("door", token)}
    for version, path, _ in attempts:
        rel = listed.get(version)
        if rel is None:
            continue
        data = path.read_bytes()
        assert rel["sha256"] == sha256_hex(data) and rel["size"] == len(data), \
            f"{version}: listed after kill -9 with size {rel['size']} sha256 {rel['sha256']}, file has {len(data)} {sha256_hex(data)}"
        resp = srv.get(f"/images/door/{version}", timeout=30)
        assert_status(resp, 200, f"GET /images/door/{version} after kill -9")
        assert len(resp.body) == len(data) and md5_hex(resp.body) == md5_hex(data), \
            f"{version}: /images served {len(resp.body)} bytes that differ from the upload"
    return set(listed)


def integrity_ok(srv):
    if srv.database_url:  # PostgreSQL keeps its own pages whole; otad's schema must answer
        assert srv.sql("SELECT count(*) FROM schema_migrations")[0][0] != "0"
        return
    db = srv.data_dir / "otad.db"
    assert db.exists(), f"no database at {db}"
    r = subprocess.run(["sqlite3", str(db), "PRAGMA integrity_check"], capture_output=True, timeout=30)
    out = r.stdout.decode().strip()
    assert r.returncode == 0 and out == "ok", f"PRAGMA integrity_check: exit {r.returncode}, {out!r} {r.stderr.decode()!r}"


def test_kill_during_upload_leaves_release_whole_or_absent():
    # (curl rate limit, seconds before SIGKILL): mid-stream at several points, then fast uploads
    # killed while the server may be hashing, writing or renaming the blob, or committing.
    timings = [("4M", 0.4), ("4M", 1.2), ("4M", 1.9), (None, 0.05), (None, 0.15), (None, 0.2), (None, 0.25),
               (None, 0.3)]
    with Server() as srv:
        srv.add_product("door", "esp8266")
        token = srv.token("admin")
        attempts = []
        for i, (rate, delay) in enumerate(timings):
            srv.start()
            path = make_image("esp8266", BIG, seed=200 + i, flash_size="16M")
            version = f"3.0.{i}"
            proc = start_upload(srv, path, token, version, rate)
            time.sleep(delay)
            srv.kill()
            attempts.append((version, path, finish(proc)))
        srv.start()
        check_store(srv, token, attempts)
        # The server still publishes normally after the crashes.
        after = make_image("esp8266", 64_000, seed=299)
        proc = start_upload(srv, after, token, "3.1.0")
        assert finish(proc) == 201, "publish after the crashes failed"
        srv.stop()
        integrity_ok(srv)


def test_kill_right_after_201_keeps_release():
    # A 201 means committed: the release must survive an immediate kill -9.
    with Server() as srv:
        srv.add_product("door", "esp8266")
        token = srv.token("admin")
        attempts = []
        for i in range(3):
            srv.start()
            path = make_image("esp8266", BIG, seed=300 + i, flash_size="16M")
            version = f"4.0.{i}"
            status = finish(start_upload(srv, path, token, version))
            srv.kill()
            assert status == 201, f"upload {version} answered {status} before the kill"
            attempts.append((version, path, status))
        srv.start()
        listed = check_store(srv, token, attempts)
        missing = [v for v, _, _ in attempts if v not in listed]
        assert not missing, f"acknowledged (201) releases lost by kill -9: {missing}"
        srv.stop()
        integrity_ok(srv)


def test_kill_cli_publish_leaves_release_whole_or_absent():
    # `otad release add` publishes into the same store; kill -9 it at points through its ~0.3 s run.
    with Server() as srv:
        srv.add_product("door", "esp8266")
        token = srv.token("admin")
        attempts = []
        for i, delay in enumerate((0.01, 0.03, 0.06, 0.08, 0.1, 0.11, 0.12, 0.13, 0.14, 0.16, 0.2, 0.25)):
            path = make_image("esp8266", BIG, seed=400 + i, flash_size="16M")
            version = f"6.0.{i}"
            proc = subprocess.Popen([otad_bin()] + srv.base_args() + ["release", "add", "door", str(path),
                                                                     "--version", version],
                                    env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.kill()
            proc.wait(timeout=10)
            attempts.append((version, path, proc.returncode))
        srv.start()
        check_store(srv, token, attempts)
        after = make_image("esp8266", 64_000, seed=499)
        srv.add_release("door", after, "6.1.0")
        srv.stop()
        integrity_ok(srv)


def test_client_killed_mid_upload_stores_nothing():
    # The uploader (not the server) dies part-way: no partial release, and the server carries on.
    with Server() as srv:
        srv.add_product("door", "esp8266")
        token = srv.token("admin")
        srv.start()
        path = make_image("esp8266", BIG, seed=320, flash_size="16M")
        proc = start_upload(srv, path, token, "7.0.0", rate="4M")
        time.sleep(0.8)
        proc.kill()
        proc.communicate(timeout=10)
        time.sleep(0.2)
        assert srv.releases("door", token) == [], "a half-uploaded release was stored"
        assert finish(start_upload(srv, path, token, "7.0.0")) == 201, "the same upload, complete, must succeed"
        check_store(srv, token, [("7.0.0", path, 201)])


def test_kill_during_download_leaves_server_usable():
    # A kill while a device streams an image must not damage the release it was reading.
    with Server() as srv:
        srv.add_product("door", "esp8266")
        token = srv.token("read")
        path = make_image("esp8266", BIG, seed=310, flash_size="16M")
        srv.add_release("door", path, "5.0.0")
        srv.start()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            s.sendall(b"GET /images/door/5.0.0 HTTP/1.0\r\n\r\n")
            s.recv(4096)
            srv.kill()
        finally:
            s.close()
        srv.start()
        check_store(srv, token, [("5.0.0", path, 0)])
        assert "5.0.0" in {r["version"] for r in srv.releases("door", token)}, "release lost after kill during download"
        srv.stop()
        integrity_ok(srv)
