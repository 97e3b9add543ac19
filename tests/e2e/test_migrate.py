"""`otad migrate --to URL` (src/cli/cli_migrate.c, src/db/db_copy.c): a data
folder filled through the real otad (products, a signing key, signed and
unsigned releases, tokens, devices checking in, a group, a pin, a rollout,
the audit log) copied into a throwaway PostgreSQL 15 (tests/tools/pgcluster.py),
then compared with SQLite row by row and blob by blob through psql, not
through otad. Also what it refuses: a database with rows, a data folder an
otad has open, a damaged blob (nothing committed), a missing --to."""

import hashlib
import sqlite3
import sys
from contextlib import closing

import devices
from devices import Device
from harness import REPO, Server, make_image, wait_until

sys.path.insert(0, str(REPO / "tests" / "tools"))
import pgcluster  # noqa: E402

# The tables otad migrate copies, in its order (db_copy.c's list); meta is compared apart.
TABLES = ["products", "product_keys", "releases", "variants", "installed_digests", "tokens",
          "sessions", "devices", "version_days", "channels", "device_groups", "group_macs", "pins",
          "deployments", "rollouts", "rollout_devices", "device_events", "sources", "source_state",
          "source_tags", "webhook_deliveries", "audit", "notify_receivers", "notify_deliveries"]


def sqlite_server():
    """A Server on SQLite in its data folder, also in the e2e-pg stage (where the harness puts
    every Server on PostgreSQL): SQLite is what migrate copies from."""
    srv = Server()
    srv.database_url = None  # the harness still drops the database it made, unused
    return srv


def populate(srv):
    """A data folder with a row in most tables, made the way an operator would."""
    srv.cli_ok("key", "generate", "--type", "rsa-2048", "--name", "fleet")
    srv.add_product("door", "esp8266")
    srv.cli_ok("product", "set", "door", "--signing", "required", "--key", "fleet")
    srv.add_release("door", make_image("esp8266", 1_500_000, seed=601, flash_size="4M"), "1.0.0",
                    notes="first\tline\nsecond \\ line, caf\u00e9")
    srv.add_release("door", make_image("esp8266", 300_000, seed=602, flash_size="4M"), "1.1.0",
                    channel="beta")
    srv.add_product("lamp", "esp32")
    srv.add_release("lamp", make_image("esp32", 200_000, seed=603), "0.9.0")
    srv.token("admin", "ops")
    revoked = srv.token("publish", "ci")
    srv.cli_ok("token", "revoke", "2")
    srv.cli_ok("group", "add", "door", "lab", "--channel", "beta", "--macs", "18:FE:34:00:00:01")
    srv.cli_ok("pin", "hold", "door", "18:FE:34:00:00:09", "--note", "bench\tunit")
    srv.cli_ok("channel", "set", "door", "stable", "--deploy", "manual")
    srv.add_release("door", make_image("esp8266", 400_000, seed=604, flash_size="4M"), "1.2.0")
    srv.cli_ok("rollout", "start", "door", "1.2.0", "--stages", "50,100", "--soak", "1h")
    srv.start()
    for n in range(1, 6):
        resp = srv.send(devices.esp8266("/update/door", srv.port,
                                        Device(sta_mac=devices.mac(n), version="1.0.0")))
        assert resp.status in (200, 304), resp.describe()
    resp = srv.send(devices.esp8266("/update/door", srv.port,
                                    Device(sta_mac="18:FE:34:00:00:01", version="1.0.0")))
    assert resp.status == 200, resp.describe()
    wait_until(lambda: sqlite_count(srv, "devices") >= 6, what="the registry to record 6 devices")
    srv.stop()
    assert revoked  # its row stays, revoked


def sqlite_open(srv):
    """A read-only look at the data folder's database, closed after the `with` (an open
    connection would make migrate refuse the folder as in use)."""
    return closing(sqlite3.connect(f"file:{srv.data_dir / 'otad.db'}?mode=ro", uri=True))


def sqlite_count(srv, table):
    with sqlite_open(srv) as c:
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def sqlite_rows(srv, table):
    """TABLE's columns and its rows as text (None for NULL), sorted."""
    with sqlite_open(srv) as c:
        cols = [r[1] for r in c.execute(f"PRAGMA table_info({table})")]
        rows = c.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
    return cols, sorted(tuple(None if v is None else str(v) for v in r) for r in rows)


def unescape(field):
    """A field of COPY's text format: \\N is NULL, backslash escapes as PostgreSQL writes them."""
    if field == "\\N":
        return None
    out, i = [], 0
    names = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}
    while i < len(field):
        if field[i] == "\\" and i + 1 < len(field):
            out.append(names.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def pg_rows(pg, db, table, cols):
    out = pg.psql(db, f"COPY (SELECT {', '.join(cols)} FROM {table}) TO STDOUT")
    lines = [line for line in out.split("\n") if line]
    return sorted(tuple(unescape(f) for f in line.split("\t")) for line in lines)


def pg_int(pg, db, sql):
    return int(pg.psql(db, sql).strip())


def blob_bytes(pg, db, sha):
    chunks = pg.psql(db, f"SELECT encode(data, 'hex') FROM blob_chunks WHERE sha256 = '{sha}' "
                         "ORDER BY seq").split()
    return bytes.fromhex("".join(chunks))


def test_migrate_copies_every_row_and_blob_and_refuses_a_second_time():
    with sqlite_server() as srv, pgcluster.PgCluster() as pg:
        populate(srv)
        url = pg.create_database("migrated")
        r = srv.cli("migrate", "--to", url, timeout=120)
        assert r.code == 0, r.describe()
        lines = r.stdout.splitlines()
        # One line per table, in the copy's order, with SQLite's count; then the blobs.
        assert lines[:len(TABLES)] == [f"{t} {sqlite_count(srv, t)} rows" for t in TABLES], r.stdout
        with sqlite_open(srv) as c:
            shas = sorted({row[0] for row in c.execute("SELECT sha256 FROM variants")})
            generation = c.execute("SELECT value FROM meta WHERE key = 'catalog_generation'") \
                .fetchone()[0]
        total = sum((srv.data_dir / "blobs" / s[:2] / s).stat().st_size for s in shas)
        assert lines[len(TABLES):] == [f"blobs {len(shas)} ({total} bytes), verified"], r.stdout
        for table in ("products", "product_keys", "releases", "variants", "tokens", "devices",
                      "device_groups", "group_macs", "pins", "rollouts", "channels", "audit"):
            assert sqlite_count(srv, table) > 0, f"the fixture left {table} empty"
        # Every row of every table, as PostgreSQL has it, equals SQLite's.
        for table in TABLES:
            cols, want = sqlite_rows(srv, table)
            got = pg_rows(pg, "migrated", table, cols)
            assert got == want, f"{table}: PostgreSQL {got[:3]} ... differs from SQLite {want[:3]} ..."
        notes = pg.psql("migrated", "SELECT notes FROM releases WHERE version = '1.0.0'")
        assert notes == "first\tline\nsecond \\ line, caf\u00e9\n", repr(notes)
        assert pg_int(pg, "migrated", "SELECT value FROM meta WHERE key = 'catalog_generation'") \
            == generation
        # The blobs: each one's chunks put together are the store's file, byte for byte.
        got = pg.psql("migrated", "SELECT sha256 || ' ' || size FROM blobs ORDER BY sha256").split("\n")
        assert [g for g in got if g] == [f"{s} {(srv.data_dir / 'blobs' / s[:2] / s).stat().st_size}"
                                         for s in shas]
        for s in shas:
            data = blob_bytes(pg, "migrated", s)
            assert data == (srv.data_dir / "blobs" / s[:2] / s).read_bytes()
            assert hashlib.sha256(data).hexdigest() == s
        assert pg_int(pg, "migrated", "SELECT max(chunks) FROM blobs") == 2, "1.5 MB: two 1 MiB chunks"
        # New rows get ids after the copied ones.
        for table in ("products", "releases", "tokens", "audit", "rollouts", "device_groups"):
            top = pg_int(pg, "migrated", f"SELECT max(id) FROM {table}")
            nxt = pg_int(pg, "migrated", f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
            assert nxt > top, f"{table}: the next id {nxt} is not past the copied {top}"

        # A second run finds rows and copies nothing.
        before = {t: pg_int(pg, "migrated", f"SELECT count(*) FROM {t}") for t in TABLES}
        again = srv.cli("migrate", "--to", url, timeout=120)
        assert again.code == 1 and "not empty" in again.stderr, again.describe()
        assert again.stdout == "", again.describe()
        after = {t: pg_int(pg, "migrated", f"SELECT count(*) FROM {t}") for t in TABLES}
        assert after == before


def test_migrate_refuses_a_running_otad_a_damaged_blob_and_a_missing_url():
    with sqlite_server() as srv, pgcluster.PgCluster() as pg:
        srv.add_product("door", "esp8266")
        image = make_image("esp8266", 200_000, seed=611, flash_size="4M")
        srv.add_release("door", image, "1.0.0")
        srv.token("admin", "ops")

        usage = srv.cli("migrate")
        assert usage.code == 2 and "--to" in usage.stderr, usage.describe()
        assert "migrate" in srv.cli_ok("help").stdout
        assert "stop otad" in srv.cli_ok("migrate", "--help").stdout.lower()

        url = pg.create_database("target")
        srv.start()
        busy = srv.cli("migrate", "--to", url, timeout=120)
        assert busy.code == 1 and "in use" in busy.stderr, busy.describe()
        srv.stop()
        assert pg.psql("target", "SELECT count(*) FROM information_schema.tables "
                                 "WHERE table_schema = 'public'").strip() == "0", \
            "a refused migrate must not even create the schema"

        sha = hashlib.sha256(image.read_bytes()).hexdigest()
        blob = srv.data_dir / "blobs" / sha[:2] / sha
        good = blob.read_bytes()
        damaged = bytearray(good)
        damaged[len(damaged) // 2] ^= 0x01
        blob.write_bytes(bytes(damaged))
        bad = srv.cli("migrate", "--to", url, timeout=120)
        assert bad.code == 1 and sha in bad.stderr and "damaged" in bad.stderr, bad.describe()
        for table in TABLES + ["blobs", "blob_chunks"]:
            assert pg_int(pg, "target", f"SELECT count(*) FROM {table}") == 0, \
                f"a failed migrate committed rows in {table}"

        blob.write_bytes(good)
        ok = srv.cli("migrate", "--to", url, timeout=120)
        assert ok.code == 0, ok.describe()
        assert "blobs 1 (200000 bytes), verified" in ok.stdout, ok.describe()
        assert "releases 1 rows" in ok.stdout.splitlines()
