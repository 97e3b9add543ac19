"""The PostgreSQL schema (src/db/migrations/postgresql/) against the SQLite
one it translates (docs/DATABASE.md, "PostgreSQL schema"): every file
applies in order on a fresh PostgreSQL 15 with psql stopping at the first
error, none is silently idempotent, the tables 001..009 (and each later SQLite
file's PostgreSQL twin, paired by name) make have the same
columns (types mapped: INTEGER to BIGINT, TEXT to TEXT), nullability,
defaults, assigned ids, primary keys, unique rules (SQLite's COLLATE NOCASE
as lower()), foreign keys and indexes (partial ones with the same
condition) as SQLite's, 010 adds exactly the cluster's tables, 011 numbers
every change of a rollout_devices row, and the data
migration in 003 changes the same rows on both. The SQLite side is Python's
sqlite3 module; the PostgreSQL side a throwaway cluster (tests/tools/pgcluster.py)."""

import re
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from pgcluster import PgCluster, PgError  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "db" / "migrations"
SQLITE_FILES = sorted((MIGRATIONS / "sqlite").glob("*.sql"))
PG_FILES = sorted((MIGRATIONS / "postgresql").glob("*.sql"))
PG_ONLY_TABLES = {"blobs", "blob_chunks", "nodes", "registry_batches"}
TYPES = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}


def rows(pg, db, sql):
    """SQL's rows as tuples of strings (psql's unaligned output)."""
    return [tuple(line.split("|")) for line in pg.psql(db, sql).splitlines() if line]


def apply_pg(pg, db, files):
    for f in files:
        try:
            pg.psql_file(db, f)
        except PgError as e:
            raise AssertionError(f"{f.name} does not apply: {e}") from None


def sqlite_db(files):
    conn = sqlite3.connect(":memory:")
    for f in files:
        conn.executescript(f.read_text())
    return conn


def norm_default(value):
    """A column default as both backends can be compared: 'x', 0, -1 or None."""
    if value is None:
        return None
    value = re.sub(r"::[a-z ]+$", "", value.strip())
    m = re.fullmatch(r"'?(-?\d+)'?", value)
    return m.group(1) if m else value


def norm_where(text):
    return re.sub(r"[\s()]", "", text or "").replace("!=", "<>") or None


def sqlite_schema(conn):
    """{table: {...}} of the SQLite database CONN, in the terms sqlite_vs_pg compares."""
    out = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for t in names:
        cols = conn.execute(f"PRAGMA table_info({t})").fetchall()
        indexes = conn.execute(f"PRAGMA index_list({t})").fetchall()  # seq, name, unique, origin, partial
        pk = [c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5]]
        without_rowid = any(i[3] == "pk" for i in indexes)
        rowid_alias = (len(pk) == 1 and not without_rowid
                       and next(c for c in cols if c[1] == pk[0])[2] == "INTEGER")
        unique, plain = set(), {}
        for _, name, is_unique, origin, partial in indexes:
            if origin == "pk":
                continue
            keys = [x for x in conn.execute(f"PRAGMA index_xinfo({name})") if x[5]]  # key columns
            cols_of = tuple(f"lower({x[2]})" if x[4].upper() == "NOCASE" else x[2] for x in keys)
            if is_unique:
                unique.add(cols_of)
            else:
                sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
                where = re.search(r"\bWHERE\b(.*)$", sql, re.S | re.I) if partial else None
                plain[name] = (cols_of, norm_where(where.group(1)) if where else None)
        fks = {}
        for fk_id, _, table, frm, to, _, on_delete, _ in conn.execute(f"PRAGMA foreign_key_list({t})"):
            f = fks.setdefault(fk_id, [table, [], [], on_delete])
            f[1].append(frm)
            f[2].append(to)
        out[t] = {
            "columns": [(c[1], TYPES[c[2]], bool(c[3] or c[5]), norm_default(c[4])) for c in cols],
            "identity": pk if rowid_alias else [],
            "pk": pk,
            "unique": unique,
            "indexes": plain,
            "fks": {(tuple(f[1]), f[0], tuple(f[2]), f[3]) for f in fks.values()},
        }
    return out


def pg_schema(pg, db):
    out = {}
    for (t,) in rows(pg, db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
        cols = rows(pg, db, "SELECT column_name, data_type, is_nullable, coalesce(column_default, "
                            "'<none>'), is_identity FROM information_schema.columns "
                            f"WHERE table_schema = 'public' AND table_name = '{t}' "
                            "ORDER BY ordinal_position")
        idx = rows(pg, db, "SELECT c.relname, i.indisunique, i.indisprimary, "
                           "coalesce(pg_get_expr(i.indpred, i.indrelid), ''), "
                           "array_to_string(array(SELECT pg_get_indexdef(i.indexrelid, k, true) "
                           "FROM generate_series(1, i.indnkeyatts) k), ',') "
                           "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                           f"WHERE i.indrelid = '{t}'::regclass")
        fks = rows(pg, db, "SELECT array_to_string(array(SELECT attname FROM unnest(conkey) WITH "
                           "ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = conrelid AND "
                           "a.attnum = k.n ORDER BY o), ','), confrelid::regclass, "
                           "array_to_string(array(SELECT attname FROM unnest(confkey) WITH "
                           "ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = confrelid AND "
                           "a.attnum = k.n ORDER BY o), ','), confdeltype FROM pg_constraint "
                           f"WHERE contype = 'f' AND conrelid = '{t}'::regclass")
        checks = rows(pg, db, "SELECT conname FROM pg_constraint "
                              f"WHERE contype = 'c' AND conrelid = '{t}'::regclass")
        pk = next((i[4].split(",") for i in idx if i[2] == "t"), [])
        out[t] = {
            "columns": [(c[0], c[1], c[2] == "NO",
                         None if c[3] == "<none>" else norm_default(c[3])) for c in cols],
            "identity": [c[0] for c in cols if c[4] == "YES"],
            "pk": pk,
            "unique": {tuple(i[4].split(",")) for i in idx if i[1] == "t" and i[2] == "f"},
            "indexes": {i[0]: (tuple(i[4].split(",")), norm_where(i[3])) for i in idx if i[1] == "f"},
            "fks": {(tuple(f[0].split(",")), f[1], tuple(f[2].split(",")),
                     {"a": "NO ACTION", "c": "CASCADE"}.get(f[3], f[3])) for f in fks},
            "checks": checks,
        }
    return out


def translations():
    """The PostgreSQL files that translate SQLite's: 001..009 by the same names, and each
    SQLite migration after 009 by the PostgreSQL file with its name after the number
    (SQLite 010_x.sql is PostgreSQL 014_x.sql: 010..013 are PostgreSQL's own)."""
    by_name = {f.name.split("_", 1)[1]: f for f in PG_FILES[9:]}
    later = [by_name.get(f.name.split("_", 1)[1]) for f in SQLITE_FILES[9:]]
    assert None not in later, \
        f"SQLite migrations after 009 without a PostgreSQL twin: {[f.name for f in SQLITE_FILES[9:]]}"
    return PG_FILES[:9] + later


def test_migrations_apply_in_order_and_not_twice():
    numbers = [int(f.name.split("_", 1)[0]) for f in PG_FILES]
    assert numbers == list(range(1, len(PG_FILES) + 1)) and len(PG_FILES) >= 11, \
        f"PostgreSQL migrations are numbered {numbers}"
    assert [f.name for f in PG_FILES[:9]] == [f.name for f in SQLITE_FILES[:9]], \
        "001..009 must have the SQLite files' names"
    translations()
    with PgCluster() as pg:
        db = pg.create_database().rsplit("/", 1)[1]
        apply_pg(pg, db, PG_FILES)
        assert rows(pg, db, "SELECT key, value FROM meta") == [("catalog_generation", "1")]
        for f in PG_FILES:
            try:
                pg.psql_file(db, f)
            except PgError:
                continue
            raise AssertionError(f"{f.name} applied a second time without an error")


def test_schema_matches_sqlite():
    lite = sqlite_schema(sqlite_db(SQLITE_FILES))
    with PgCluster() as pg:
        db = pg.create_database().rsplit("/", 1)[1]
        apply_pg(pg, db, translations())  # 010..013 are PostgreSQL's own
        pgs = pg_schema(pg, db)
    assert set(pgs) == set(lite), f"tables only in PostgreSQL: {sorted(set(pgs) - set(lite))}"
    assert not set(lite) - set(pgs), f"missing in PostgreSQL: {sorted(set(lite) - set(pgs))}"
    for t in sorted(lite):
        for key in ("columns", "identity", "pk", "unique", "indexes", "fks"):
            assert lite[t][key] == pgs[t][key], \
                f"{t}.{key}: SQLite {lite[t][key]} but PostgreSQL {pgs[t][key]}"
        assert not pgs[t]["checks"], f"{t}: CHECK constraints SQLite does not have"
    # The comparison above has teeth: it saw the NOCASE rule, the partial index, a cascade.
    assert ("product_id", "lower(owner)", "lower(repo)") in lite["sources"]["unique"]
    assert lite["devices"]["indexes"]["devices_delivery_issue"][1] == "delivery_issue<>0"
    assert any(fk[3] == "CASCADE" for fk in lite["group_macs"]["fks"])
    assert lite["audit"]["identity"] == ["id"] and lite["source_state"]["identity"] == []


def test_cluster_tables():
    with PgCluster() as pg:
        db = pg.create_database().rsplit("/", 1)[1]
        apply_pg(pg, db, PG_FILES)
        s = pg_schema(pg, db)
        storage = rows(pg, db, "SELECT attname, attstorage FROM pg_attribute "
                               "WHERE attrelid = 'blob_chunks'::regclass AND attname = 'data'")
        # A blob's chunks go with it; a chunk of no blob is refused.
        pg.psql(db, "INSERT INTO blobs VALUES ('ab', 3, 2, 2, 1); "
                    "INSERT INTO blob_chunks VALUES ('ab', 0, '\\x0102'), ('ab', 1, '\\x03')")
        assert rows(pg, db, "SELECT sum(length(data)) FROM blob_chunks") == [("3",)]
        pg.psql(db, "DELETE FROM blobs WHERE sha256 = 'ab'")
        assert rows(pg, db, "SELECT count(*) FROM blob_chunks") == [("0",)]
        # 011: every insert and update of a device's rollout row takes the next change number.
        pg.psql(db, "INSERT INTO products (id, name, platform, default_channel, created_ms) "
                    "VALUES (1, 'p', 0, 'stable', 1); "
                    "INSERT INTO releases (id, product_id, seq, version, channel, mode, size, md5, "
                    "sha256, flash_size, created_ms, source) "
                    "VALUES (1, 1, 1, '1', 'stable', 0, 1, 'm', 's', 0, 1, 'cli'); "
                    "INSERT INTO rollouts (id, product_id, channel, release_id, mode, kind, state, "
                    "plan, interval_s, stage_started_ms, salt0, salt1, created_ms, updated_ms) "
                    "VALUES (1, 1, 'stable', 1, 0, 0, 0, '', 60, 1, 1, 2, 1, 1); "
                    "INSERT INTO rollout_devices (rollout_id, mac, product_id, stage, outcome, "
                    "offered_ms) VALUES (1, 7, 1, 0, 0, 1), (1, 8, 1, 0, 0, 1); "
                    "UPDATE rollout_devices SET outcome = 1 WHERE mac = 7")
        assert rows(pg, db, "SELECT mac, change_seq FROM rollout_devices ORDER BY mac") == \
            [("7", "3"), ("8", "2")]
        # 012: and with the id of the transaction that wrote it, one id per transaction.
        assert rows(pg, db, "SELECT count(DISTINCT change_xid), bool_and(change_xid > '2'::xid8) "
                            "FROM rollout_devices") == [("2", "t")]
        try:
            pg.psql(db, "INSERT INTO blob_chunks VALUES ('cd', 0, '\\x00')")
            raise AssertionError("a chunk without its blob was stored")
        except PgError as e:
            assert "foreign key" in str(e), str(e)
    assert storage == [("data", "e")], f"blob_chunks.data storage {storage}, not EXTERNAL"
    assert s["blobs"]["columns"] == [("sha256", "text", True, None), ("size", "bigint", True, None),
                                     ("chunk_bytes", "bigint", True, None),
                                     ("chunks", "bigint", True, None),
                                     ("created_ms", "bigint", True, None)], s["blobs"]["columns"]
    assert s["blob_chunks"]["pk"] == ["sha256", "seq"]
    assert s["blob_chunks"]["fks"] == {(("sha256",), "blobs", ("sha256",), "CASCADE")}
    assert set(s) - set(sqlite_schema(sqlite_db(SQLITE_FILES))) == PG_ONLY_TABLES
    assert s["rollout_devices"]["columns"][-2:] == [("change_seq", "bigint", True, "0"),
                                                    ("change_xid", "xid8", True, "'0'::xid8")], \
        s["rollout_devices"]["columns"]
    assert s["nodes"]["pk"] == ["name"]
    assert s["nodes"]["columns"] == [("name", "text", True, None),
                                     ("started_ms", "bigint", True, None),
                                     ("seen_ms", "bigint", True, None),
                                     ("version", "text", True, None),
                                     ("address", "text", True, "''"),
                                     ("leader_since_ms", "bigint", False, None)], s["nodes"]["columns"]


# Rows both backends hold before 003: ESP8266 release 2 was stored as a plain form its
# digests disprove (becomes gzip, kind 1); 1 matches its digest, 3 already has a gzip
# form, 4 is an ESP32 release: those three keep kind 0.
BEFORE_003 = """
INSERT INTO products (id, name, platform, default_channel, created_ms) VALUES
    (1, 'door', 0, 'stable', 1), (2, 'lamp', 1, 'stable', 1);
INSERT INTO releases (id, product_id, seq, version, channel, mode, size, md5, sha256, flash_size,
                      created_ms, source) VALUES
    (1, 1, 1, '1.0', 'stable', 0, 10, 'aaa', 's1', 0, 1, 'upload'),
    (2, 1, 2, '1.1', 'stable', 0, 10, 'bbb', 's2', 0, 1, 'upload'),
    (3, 1, 3, '1.2', 'stable', 0, 10, 'ddd', 's3', 0, 1, 'upload'),
    (4, 2, 1, '2.0', 'stable', 0, 10, 'eee', 's4', 0, 1, 'upload');
INSERT INTO variants (release_id, kind, sha256, md5, size) VALUES
    (1, 0, 's1', 'aaa', 10), (2, 0, 's2', 'bbb', 10), (3, 0, 's3', 'ddd', 10),
    (3, 1, 's3g', 'ddg', 8), (4, 0, 's4', 'eee', 10);
INSERT INTO installed_digests (release_id, digest) VALUES (1, 'aaa'), (2, 'ccc');
"""
AFTER_003 = "SELECT release_id, kind FROM variants ORDER BY release_id, kind"
LEGACY = "SELECT id, sign_legacy FROM products ORDER BY id"


def test_data_migration_003_agrees():
    lite = sqlite_db(SQLITE_FILES[:2])
    lite.executescript(BEFORE_003)
    lite.executescript(SQLITE_FILES[2].read_text())
    lite_variants = [tuple(str(v) for v in r) for r in lite.execute(AFTER_003)]
    lite_legacy = [tuple(str(v) for v in r) for r in lite.execute(LEGACY)]
    with PgCluster() as pg:
        db = pg.create_database().rsplit("/", 1)[1]
        apply_pg(pg, db, PG_FILES[:2])
        pg.psql(db, BEFORE_003)
        apply_pg(pg, db, PG_FILES[2:3])
        pg_variants, pg_legacy = rows(pg, db, AFTER_003), rows(pg, db, LEGACY)
        apply_pg(pg, db, PG_FILES[3:])  # the rest still applies over rows
    expected = [("1", "0"), ("2", "1"), ("3", "0"), ("3", "1"), ("4", "0")]
    assert lite_variants == expected, f"SQLite's 003 made {lite_variants}"
    assert pg_variants == expected, f"PostgreSQL's 003 made {pg_variants}, SQLite's {expected}"
    assert lite_legacy == pg_legacy == [("1", "1"), ("2", "0")], (lite_legacy, pg_legacy)
