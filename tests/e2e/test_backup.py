"""`otad backup`, `otad restore` and `otad check` (docs/OPERATIONS.md,
"Backups"): a backup taken while releases are published and devices check in
restores to a folder that passes `otad check`, holds every release whose
publish was acknowledged before the backup began, and serves them; restore
refuses a live data folder, a tampered blob and a damaged database; check
finds a missing blob, a damaged one and an orphan; a backup never lands in a
folder that exists, and one that is killed leaves only DEST.partial. On
SQLite in every stage: the database part of a backup is SQLite's online
backup (on PostgreSQL it is pg_dump's)."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import devices
from devices import Device
from harness import (Server, assert_image, make_image, otad_bin, run_otad, sha256_hex, wait_until)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def publish(srv, token, version, data):
    return srv.api("POST", f"/api/v1/products/door/releases?version={version}", token, body=data,
                   headers=[("Content-Type", "application/octet-stream")])


def image_bytes(seed, size=40_000):
    return make_image("esp8266", size, seed=seed, flash_size="4M").read_bytes()


def backup_versions(folder):
    db = sqlite3.connect(f"file:{folder / 'otad.db'}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT version FROM releases")}
    finally:
        db.close()


def healthz_ok(srv):
    return srv.get("/healthz").status == 200


def scratch():
    return Path(tempfile.mkdtemp(prefix="otad-e2e-backup-"))


def published_folder(releases=3, size=40_000):
    """A stopped server's data folder with product door and RELEASES releases; yields (srv, datas)."""
    srv = Server(sqlite=True)
    srv.add_product("door", "esp8266")
    datas = {}
    for i in range(releases):
        path = make_image("esp8266", size, seed=900 + i, flash_size="4M")
        srv.add_release("door", path, f"1.0.{i}")
        datas[f"1.0.{i}"] = path.read_bytes()
    return srv, datas


def blob_path(folder, data):
    sha = sha256_hex(data)
    return folder / "blobs" / sha[:2] / sha


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x55]))


def test_backup_during_publish_and_checkin_storm_restores_and_serves():
    out = scratch()
    try:
        with Server(sqlite=True) as srv:
            srv.add_product("door", "esp8266")
            token = srv.token("admin")
            srv.start()
            acked = {}  # version -> (monotonic time of the 201, bytes)
            lock = threading.Lock()
            stop = threading.Event()
            errors = []

            def publisher(t):
                i = 0
                while not stop.is_set() and i < 200:
                    version = f"2.{t}.{i}"
                    data = image_bytes(seed=1000 * (t + 1) + i)
                    r = publish(srv, token, version, data)
                    if r.status != 201:
                        errors.append(f"publish {version}: {r.describe()}")
                        return
                    with lock:
                        acked[version] = (time.monotonic(), data)
                    i += 1

            checkins = [0]

            def checker(t):
                n = 0
                while not stop.is_set():
                    dev = Device(sta_mac=f"18:FE:AA:01:{t:02X}:{n % 200:02X}", version="0.0.1",
                                 sketch_md5="0" * 32)
                    r = srv.send(devices.esp8266("/update/door", srv.port, dev))
                    if r.status not in (200, 304):
                        errors.append(f"check-in: {r.describe()}")
                        return
                    n += 1
                    with lock:
                        checkins[0] += 1

            threads = [threading.Thread(target=publisher, args=(t,)) for t in range(3)]
            threads += [threading.Thread(target=checker, args=(t,)) for t in range(2)]
            for th in threads:
                th.start()
            try:
                wait_until(lambda: len(acked) >= 12 and checkins[0] >= 20, 60, 0.05,
                           "publishes and check-ins under way")
                with lock:
                    began = time.monotonic()
                    before = {v: d for v, (t, d) in acked.items()}
                    checkins_before = checkins[0]
                dest = out / "nightly"
                r = srv.cli("backup", str(dest), timeout=60)
                assert r.code == 0, r.describe()
                with lock:
                    ended = time.monotonic()
                    published_during = sum(1 for t, _ in acked.values() if began < t < ended)
                    checkins_during = checkins[0] - checkins_before
            finally:
                stop.set()
                for th in threads:
                    th.join(60)
            assert not errors, errors[:3]
            assert "backed up into" in r.stdout and "blobs" in r.stdout, r.describe()
            assert dest.is_dir() and not Path(str(dest) + ".partial").exists()
            assert checkins_during > 0, "devices must check in while the backup runs"

            # Every release acknowledged before the backup began is in it, and nothing is torn.
            have = backup_versions(dest)
            missing = sorted(set(before) - have)
            assert not missing, f"acknowledged before the backup, absent from it: {missing}"
            chk = run_otad(["--data-dir", str(dest), "check"])
            assert chk.code == 0, chk.describe()
            assert chk.stdout.strip() == "", f"a clean backup lists no problem: {chk.describe()}"

            # A live data folder is never overwritten, --force or not.
            live = srv.cli("restore", str(dest), "--force")
            assert live.code == 1 and "in use" in live.stderr, live.describe()
            assert not Path(str(srv.data_dir) + ".partial").exists(), live.describe()
            assert srv.get("/healthz").status == 200

        # The backup restored into an empty folder serves what it holds.
        with Server(sqlite=True) as restored:
            res = restored.cli("restore", str(dest))
            assert res.code == 0, res.describe()
            assert "restored into" in res.stdout, res.describe()
            chk = restored.cli("check")
            assert chk.code == 0, chk.describe()
            restored.start()
            admin = restored.token("admin")
            listed = {rel["version"] for rel in restored.releases("door", admin)}
            assert set(before) <= listed, sorted(set(before) - listed)
            resp = restored.send(devices.esp8266(
                "/update/door", restored.port, Device(version="0.0.1", sketch_md5="0" * 32)))
            version = resp.header("x-version")
            assert version in acked, resp.describe()
            assert_image(resp, acked[version][1], version, "a restored release")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_restore_refuses_a_tampered_blob_and_a_damaged_database():
    out = scratch()
    srv, datas = published_folder(3)
    try:
        with srv:
            dest = out / "b"
            assert srv.cli("backup", str(dest)).code == 0
            target = out / "restored"

            # A byte flipped in one blob of the backup: nothing is restored.
            tampered = out / "tampered"
            shutil.copytree(dest, tampered)
            flip_byte(blob_path(tampered, datas["1.0.1"]), 20_000)
            r = run_otad(["--data-dir", str(target), "restore", str(tampered)])
            assert r.code == 1 and "damaged" in r.stderr and sha256_hex(datas["1.0.1"]) in r.stderr, \
                r.describe()
            assert not target.exists() and not Path(str(target) + ".partial").exists(), \
                os.listdir(out)

            # A page in the middle of the database overwritten: its integrity check fails.
            damaged = out / "damaged"
            shutil.copytree(dest, damaged)
            db = damaged / "otad.db"
            size = db.stat().st_size
            with open(db, "r+b") as f:
                f.seek(size // 2 - (size // 2) % 1024)
                f.write(b"\xa5" * 3072)
            r = run_otad(["--data-dir", str(target), "restore", str(damaged)])
            assert r.code == 1 and r.stdout.startswith("database "), r.describe()
            assert "nothing was restored" in r.stderr, r.describe()
            assert not target.exists() and not Path(str(target) + ".partial").exists(), \
                os.listdir(out)

            # A backup's .partial is never taken for a whole one.
            partial = out / "x.partial"
            shutil.copytree(dest, partial)
            r = run_otad(["--data-dir", str(target), "restore", str(partial)])
            assert r.code == 1 and "interrupted" in r.stderr, r.describe()

            # The intact backup restores; a second restore onto it needs --force and sets the
            # old folder aside.
            r = run_otad(["--data-dir", str(target), "restore", str(dest)])
            assert r.code == 0, r.describe()
            assert (target / "otad.db").exists()
            r = run_otad(["--data-dir", str(target), "restore", str(dest)])
            assert r.code == 1 and "not empty" in r.stderr, r.describe()
            r = run_otad(["--data-dir", str(target), "restore", str(dest), "--force"])
            assert r.code == 0 and "replaced-" in r.stdout, r.describe()
            aside = [p for p in out.iterdir() if p.name.startswith("restored.replaced-")]
            assert len(aside) == 1 and (aside[0] / "otad.db").exists(), os.listdir(out)
            assert run_otad(["--data-dir", str(target), "check"]).code == 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_check_lists_a_missing_and_a_damaged_blob_and_an_orphan():
    srv, datas = published_folder(3)
    with srv:
        r = srv.cli("check")
        assert r.code == 0 and r.stdout.strip() == "", r.describe()
        blob_path(srv.data_dir, datas["1.0.0"]).unlink()
        flip_byte(blob_path(srv.data_dir, datas["1.0.2"]), 10_000)
        orphan = os.urandom(5000)
        path = blob_path(srv.data_dir, orphan)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(orphan)

        r = srv.cli("check")
        assert r.code == 1, r.describe()
        lines = {tuple(line.split()[:2]) for line in r.stdout.splitlines() if line.strip()}
        assert lines == {("missing", sha256_hex(datas["1.0.0"])),
                         ("damaged", sha256_hex(datas["1.0.2"])),
                         ("orphan", sha256_hex(orphan))}, r.describe()
        assert path.exists(), "check never removes an orphan"

        j = srv.cli("check", "--json", "--quick")
        assert j.code == 1, j.describe()
        doc = j.json()
        assert doc["ok"] is False and doc["database"]["ok"] is True, doc
        kinds = sorted((p["kind"], p["blob"]) for p in doc["problems"])
        assert kinds == sorted([("missing", sha256_hex(datas["1.0.0"])),
                                ("damaged", sha256_hex(datas["1.0.2"]))]), doc
        assert [o["blob"] for o in doc["orphans"]] == [sha256_hex(orphan)], doc

        # A product naming a key keys/ lacks is a problem too.
        srv.sql("UPDATE products SET signing_key = 'gone' WHERE name = 'door'")
        r = srv.cli("check")
        assert r.code == 1 and "key-missing gone" in r.stdout, r.describe()


def test_backup_keeps_keys_and_their_modes():
    out = scratch()
    srv, _ = published_folder(1)
    try:
        with srv:
            srv.cli_ok("key", "generate", "--type", "ecdsa-p256", "--name", "k1")
            srv.sql("UPDATE products SET signing_key = 'k1' WHERE name = 'door'")
            assert srv.cli("check").code == 0
            dest = out / "b"
            assert srv.cli("backup", str(dest)).code == 0
            for name in os.listdir(srv.data_dir / "keys"):
                a, b = srv.data_dir / "keys" / name, dest / "keys" / name
                assert b.read_bytes() == a.read_bytes(), name
                assert (b.stat().st_mode & 0o7777) == (a.stat().st_mode & 0o7777), name
            assert (dest / "keys" / "k1.key").stat().st_mode & 0o077 == 0, "a private key stays 0600"
            assert (dest.stat().st_mode & 0o7777) == (srv.data_dir.stat().st_mode & 0o7777)
            assert run_otad(["--data-dir", str(dest), "check"]).code == 0
            (dest / "keys" / "k1.key").unlink()
            (dest / "keys" / "k1.pub").unlink()
            r = run_otad(["--data-dir", str(out / "r"), "restore", str(dest)])
            assert r.code == 1 and "key-missing k1" in r.stdout, r.describe()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def owners(folder):
    """Every path under FOLDER (itself included) with its uid and gid."""
    found = {str(folder): (folder.stat().st_uid, folder.stat().st_gid)}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            found[os.path.join(root, name)] = (st.st_uid, st.st_gid)
    return found


def test_backup_and_restore_as_root_keep_the_data_folders_owner():
    """The operator runs `sudo otad backup` and `sudo otad restore` on /var/lib/otad, owned by
    the otad user: the backup and the restored folder belong to that user, database included,
    or the restarted service cannot write its database (systemd's StateDirectory= fixes
    owners only when the folder's own owner differs, and it does not)."""
    assert os.geteuid() == 0, "tests/run runs the e2e stage as root"
    out = scratch()
    srv, _ = published_folder(1)
    try:
        uid = gid = 4242  # any user but root, as the otad system user is
        for path in owners(srv.data_dir):
            os.lchown(path, uid, gid)
        dest = out / "b"
        r = run_otad(["--data-dir", str(srv.data_dir), "backup", str(dest)])
        assert r.code == 0, r.describe()
        wrong = {p: o for p, o in owners(dest).items() if o != (uid, gid)}
        assert not wrong, "the backup's files not owned as the data folder: %s" % wrong
        # As a backup by an otad before this fix had it: the database and blobs root's.
        for path in [dest / "otad.db"] + list((dest / "blobs").rglob("*")):
            os.lchown(path, 0, 0)
        restored = out / "r"
        r = run_otad(["--data-dir", str(restored), "restore", str(dest)])
        assert r.code == 0, r.describe()
        wrong = {p: o for p, o in owners(restored).items() if o != (uid, gid)}
        assert not wrong, "the restored files not owned as the backup: %s" % wrong
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_check_leaves_the_folder_it_checks_as_it_was():
    """`otad check` reads only: run on a backup (which has no tmp/), it adds no folder, and the
    database's bytes stay."""
    out = scratch()
    srv, _ = published_folder(1)
    try:
        dest = out / "b"
        assert run_otad(["--data-dir", str(srv.data_dir), "backup", str(dest)]).code == 0
        before = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
        db_before = (dest / "otad.db").read_bytes()
        r = run_otad(["--data-dir", str(dest), "check"])
        assert r.code == 0, r.describe()
        after = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
        assert after == before, f"check changed the folder: {set(after) ^ set(before)}"
        assert (dest / "otad.db").read_bytes() == db_before, "check changed the database"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_backup_refuses_a_dest_that_exists_and_a_killed_backup_leaves_only_partial():
    out = scratch()
    srv, datas = published_folder(2)
    try:
        with srv:
            taken = out / "taken"
            taken.mkdir()
            (taken / "notes.txt").write_text("mine")
            r = srv.cli("backup", str(taken))
            assert r.code == 1 and "exists" in r.stderr, r.describe()
            assert sorted(os.listdir(taken)) == ["notes.txt"]
            assert not Path(str(taken) + ".partial").exists()

            empty = out / "empty"
            empty.mkdir()
            r = srv.cli("backup", str(empty))
            assert r.code == 0 and (empty / "otad.db").exists(), r.describe()

            # A blob that blocks its reader (a FIFO in its place) holds the backup mid-copy,
            # after the database is copied: kill it there.
            blob = blob_path(srv.data_dir, datas["1.0.1"])
            saved = blob.read_bytes()
            blob.unlink()
            os.mkfifo(blob)
            dest = out / "killed"
            partial = Path(str(dest) + ".partial")
            proc = subprocess.Popen([otad_bin(), "--data-dir", str(srv.data_dir), "backup", str(dest)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_until(lambda: (partial / "otad.db").exists(), 20, 0.02, "the backup under way")
                time.sleep(0.2)
                assert proc.poll() is None, "the backup must still be copying"
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            assert not dest.exists(), "a killed backup must never look whole"
            assert partial.is_dir()
            blob.unlink()
            blob.write_bytes(saved)

            # Its .partial is refused as a restore source and in the way of the next backup.
            r = srv.cli("backup", str(dest))
            assert r.code == 1 and ".partial" in r.stderr, r.describe()
            shutil.rmtree(partial)
            assert srv.cli("backup", str(dest)).code == 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_backup_rotation_keeps_the_newest():
    out = scratch()
    srv, _ = published_folder(1)
    try:
        with srv:
            into = out / "backups"
            into.mkdir()
            for name in ("otad-20200101T000000Z", "otad-20200102T000000Z"):
                shutil.copytree(srv.data_dir, into / name)
            (into / "otad-20200103T000000Z.partial").mkdir()
            (into / "notes.txt").write_text("not a backup")
            r = srv.cli("backup", "--in", str(into), "--keep", "2")
            assert r.code == 0, r.describe()
            left = sorted(os.listdir(into))
            assert len(left) == 3 and left[0] == "notes.txt" and left[1] == "otad-20200102T000000Z", left
            assert left[2].startswith("otad-") and left[2] > "otad-2026", left
            assert run_otad(["--data-dir", str(into / left[2]), "check"]).code == 0
            assert srv.cli("backup", "--in", str(into), "--keep", "0").code == 2
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_backup_units_pass_systemd_analyze_verify():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("systemd-analyze not installed: the units are not verified here")
        return
    out = scratch()
    try:
        text = (REPO / "dist" / "otad-backup.service.in").read_text()
        assert "@bindir@/otad " in text and "@sysconfdir@" in text
        (out / "otad-backup.service").write_text(
            text.replace("@bindir@/otad", str(Path(otad_bin()).resolve())).replace("@sysconfdir@", "/etc"))
        shutil.copy(REPO / "dist" / "otad-backup.timer", out / "otad-backup.timer")
        r = subprocess.run([analyze, "verify", "--man=no", "otad-backup.service", "otad-backup.timer"],
                           cwd=out, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_restore_refuses_a_live_folder_on_postgresql_and_sqlite():
    """`otad restore --force` must not set aside the data folder of a running otad: on SQLite
    its database's lock says so; on PostgreSQL the database is elsewhere, and the folder's own
    lock (every open service holds it shared) must."""
    out = scratch()
    try:
        with Server() as srv:
            srv.add_product("door", "esp8266")
            srv.cli_ok("key", "generate", "--type", "ecdsa-p256", "--name", "k1")
            dest = out / "b"
            assert srv.cli("backup", str(dest)).code == 0
            srv.start()
            args = (["--database", srv.database_url] if srv.database_url else []) + \
                ["--data-dir", str(srv.data_dir), "restore", "--force", str(dest)]
            r = run_otad(args)
            assert r.code != 0 and "in use" in r.stderr, r.describe()
            assert healthz_ok(srv) and (srv.data_dir / "keys").is_dir(), "the live folder stays"
            assert not [p for p in srv.data_dir.parent.iterdir() if ".replaced-" in p.name]
            srv.stop()
            r = run_otad(args)
            assert r.code == 0, r.describe()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_backup_on_postgresql_holds_keys_and_tls_and_points_at_pg_dump():
    """Runs in the e2e-pg stage, on its PostgreSQL (a cluster of its own here would cost an
    initdb per run); in the SQLite stages there is no PostgreSQL node to back up."""
    out = scratch()
    try:
        with Server() as srv:
            if not srv.database_url:
                print("SQLite stage: the PostgreSQL backup runs in the e2e-pg stage")
                return
            srv.cli_ok("key", "generate", "--type", "ecdsa-p256", "--name", "k1")
            srv.add_product("door", "esp8266")
            dest = out / "b"
            r = srv.cli("backup", str(dest))
            assert r.code == 0 and "pg_dump" in r.stderr, r.describe()
            assert sorted(os.listdir(dest)) == ["keys"], os.listdir(dest)
            assert sorted(os.listdir(dest / "keys")) == sorted(os.listdir(srv.data_dir / "keys"))
            target = out / "node"
            r = run_otad(["--database", srv.database_url, "--data-dir", str(target), "restore",
                          str(dest)])
            assert r.code == 0, r.describe()
            assert (target / "keys" / "k1.key").read_bytes() == \
                (srv.data_dir / "keys" / "k1.key").read_bytes()
    finally:
        shutil.rmtree(out, ignore_errors=True)
