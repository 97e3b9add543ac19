"""A node's blobs on PostgreSQL (docs/OPERATIONS.md, "Several nodes on PostgreSQL"):
the database holds every release's image and each node a cache of them under
blobs/, filled and checked before use.

- A blob a node cannot fetch (its rows gone, or a chunk damaged) holds back
  neither the catalog nor the other releases; a device offered that release
  gets 503 with Retry-After, never wrong bytes; the failure is logged once
  though retried at every poll, and the node serves the release as soon as
  the blob is back.
- A cached file damaged on disk (truncated while the node runs, or a byte
  changed between two starts) is never served: the node drops it, answers
  503 meanwhile, and fetches it again.
- Blobs no release names, older than an hour, are deleted from the database
  by the leader and from each node's cache at its start; younger ones (a
  publish in flight), named ones and files that are no blobs stay. On SQLite
  the store is the only copy and nothing is removed.

Each PostgreSQL test starts its own throwaway PostgreSQL 15 (as test_cluster.py
does), so these tests run in the SQLite stage too; they fail, saying so, when
PostgreSQL 15 is not installed."""

import contextlib
import os
import time

import devices
import harness
from devices import Device
from harness import (Server, assert_image, assert_status, make_image, sha256_hex, wait_until)
from test_cluster import make_node, pg_cluster

HOUR_MS = 3600 * 1000


@contextlib.contextmanager
def database():
    """A new PostgreSQL 15 and the URL of one database in it, stopped at the end."""
    pg = pg_cluster()
    url = None
    try:
        url = pg.create_database()
        yield url
    finally:
        if url:
            harness.postgresql_forget(url)  # srv.sql's kept connection, before the stop
        pg.stop()


def checkin(node, product, version, mac_byte=1):
    dev = Device(sta_mac=f"18:FE:AA:00:20:{mac_byte:02X}", version=version, sketch_md5="0" * 32)
    return node.send(devices.esp8266(f"/update/{product}", node.port, dev))


def cached(node, sha):
    return node.data_dir / "blobs" / sha[:2] / sha


def assert_retry_later(resp, data, what):
    """A 503 the device retries, carrying none of the image's bytes."""
    assert_status(resp, 503, what)
    assert resp.header("retry-after"), f"{what}: no Retry-After: {resp.describe()}"
    assert data[:4096] not in resp.raw_body and data[-4096:] not in resp.raw_body, \
        f"{what}: image bytes were sent: {resp.describe()}"


def image_until_served(node, product, version, data, new_version, what, timeout=5.0):
    """Check-ins until NODE serves NEW_VERSION: each answer before is a 503 without the image's
    bytes (never a 200 with other bytes); returns how many 503s came first."""
    refused = 0
    deadline = time.monotonic() + timeout
    while True:
        resp = checkin(node, product, version)
        if resp.status == 200:
            assert_image(resp, data, new_version, what)
            return refused
        assert_retry_later(resp, data, what)
        refused += 1
        assert time.monotonic() < deadline, f"{what}: still {resp.describe()} after {timeout:.0f} s"
        time.sleep(0.1)


def blob_lacking_node(break_sql, repair_sql):
    """n1 publishes door 1.0.0 and 1.1.0 (whose blob BREAK_SQL then breaks, given its name) and
    lamp 1.0.0; n2 starts with an empty cache: it offers its catalog, serves lamp, answers door's
    1.1.0 with 503 (logged once), and serves it once REPAIR_SQL put the blob back."""
    door_old = make_image("esp8266", 120_000, seed=90, flash_size="4M")
    door_new = make_image("esp8266", 150_000, seed=91, flash_size="4M")
    lamp = make_image("esp8266", 130_000, seed=92, flash_size="4M")
    data, lamp_data = door_new.read_bytes(), lamp.read_bytes()
    sha = sha256_hex(data)
    with database() as url, make_node("n1", url) as n1, make_node("n2", url) as n2:
        n1.add_product("door")
        n1.add_product("lamp")
        n1.add_release("door", door_old, "1.0.0")
        n1.add_release("door", door_new, "1.1.0")
        for statement in break_sql(sha):
            n1.sql(statement)
        n1.add_release("lamp", lamp, "1.0.0")  # a catalog newer than the break

        n2.start()
        # The catalog is offered without the blob: lamp, published after, is served.
        assert_image(checkin(n2, "lamp", "0.9.0", 2), lamp_data, "1.0.0", "lamp on n2")
        for attempt in range(3):
            assert_retry_later(checkin(n2, "door", "1.0.0"), data, f"door 1.1.0 on n2, try {attempt + 1}")
            time.sleep(0.6)  # more than a poll: the node tried the fetch again meanwhile
        assert not cached(n2, sha).exists(), "n2 cached a blob it could not fetch whole"
        log = n2.log()
        assert log.count(f"store: blob {sha}") == 1, \
            f"the failed fetch must be logged once, not at every poll: {log}"
        assert "its release is not served by this node until" in log, log

        for statement in repair_sql(sha):
            n1.sql(statement)
        refused = image_until_served(n2, "door", "1.0.0", data, "1.1.0", "door 1.1.0 on n2 once repaired")
        assert cached(n2, sha).read_bytes() == data
        # The line follows the file's store, so a check-in can be served just before it is written.
        wait_until(lambda: f"store: blob {sha} fetched from the database: its release is served again"
                   in n2.log(), timeout=5, what="the blob's recovery in n2's log")
        # Every cached file is a whole blob of a release: the damaged bytes were never stored.
        files = sorted(p.name for p in (n2.data_dir / "blobs").glob("*/*"))
        assert files == sorted(sha256_hex(d) for d in (door_old.read_bytes(), data, lamp_data)), files
        return refused


def test_blobs_a_node_serves_a_release_whose_rows_were_gone_once_they_are_back():
    def gone(sha):
        return [f"CREATE TABLE saved_blobs AS SELECT * FROM blobs WHERE sha256 = '{sha}'",
                f"CREATE TABLE saved_chunks AS SELECT * FROM blob_chunks WHERE sha256 = '{sha}'",
                f"DELETE FROM blobs WHERE sha256 = '{sha}'"]

    def back(sha):
        return ["INSERT INTO blobs SELECT * FROM saved_blobs",
                "INSERT INTO blob_chunks SELECT * FROM saved_chunks"]

    blob_lacking_node(gone, back)


def test_blobs_a_node_never_serves_a_damaged_chunk_and_serves_it_once_repaired():
    # One byte of the blob's only chunk flipped: same size, other bytes (only the hash tells).
    def flip(sha):
        return [f"UPDATE blob_chunks SET data = set_byte(data, 70000, get_byte(data, 70000) # 1) "
                f"WHERE sha256 = '{sha}' AND seq = 0"]

    blob_lacking_node(flip, flip)


def test_blobs_a_damaged_cached_blob_is_dropped_and_fetched_again():
    image = make_image("esp8266", 150_000, seed=93, flash_size="4M")
    data = image.read_bytes()
    sha = sha256_hex(data)
    with database() as url, make_node("n1", url) as n1:
        n1.add_product("door")
        n1.add_release("door", image, "1.1.0")
        blob = cached(n1, sha)
        n1.start()
        assert_image(checkin(n1, "door", "1.0.0"), data, "1.1.0", "intact")

        # While it runs: the file cut short (its size changed).
        with open(blob, "r+b") as f:
            f.truncate(100_000)
        refused = image_until_served(n1, "door", "1.0.0", data, "1.1.0", "after a truncation")
        assert refused >= 1, "the truncated file's first check-in was not refused"
        assert blob.read_bytes() == data, "the cache file was not fetched again whole"
        assert f"store: cached blob {sha} is damaged: removed, fetched again from the database" in n1.log()

        # Between two starts: one byte changed in place, same size and the same ctime as far
        # as a new process knows (it has seen no file yet): the hash at first use finds it.
        n1.stop()
        with open(blob, "r+b") as f:
            f.seek(70_000)
            byte = f.read(1)
            f.seek(70_000)
            f.write(bytes([byte[0] ^ 0x01]))
        n1.start()
        refused = image_until_served(n1, "door", "1.0.0", data, "1.1.0", "after a restart")
        assert refused >= 1, "the altered file's first check-in was not refused"
        assert blob.read_bytes() == data
        log = n1.log()
        assert f"blob {sha} is damaged" in log and \
            f"store: cached blob {sha} is damaged: removed, fetched again from the database" in log, log


def aged(path, seconds):
    os.utime(path, (time.time() - seconds, time.time() - seconds))


def fake_blob(node, seed, age_s):
    """A blob file in NODE's cache no release names, last written AGE_S ago; returns its path."""
    data = bytes([seed]) * 1000
    path = cached(node, sha256_hex(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    aged(path, age_s)
    return path


def test_blobs_unused_for_an_hour_are_deleted_from_the_database_and_the_cache():
    image = make_image("esp8266", 150_000, seed=94, flash_size="4M")
    data = image.read_bytes()
    sha = sha256_hex(data)
    old, young = "1" * 64, "2" * 64  # orphans: stored by publishes that never named them
    with database() as url, make_node("n1", url) as n1:
        n1.add_product("door")
        n1.add_release("door", image, "1.1.0")
        now = int(time.time() * 1000)
        n1.sql(f"UPDATE blobs SET created_ms = {now - 2 * HOUR_MS}")  # named, and old
        for name, created in ((old, now - 2 * HOUR_MS), (young, now - HOUR_MS // 2)):
            n1.sql(f"INSERT INTO blobs (sha256, size, chunk_bytes, chunks, created_ms) "
                   f"VALUES ('{name}', 3, 1048576, 1, {created})")
            n1.sql(f"INSERT INTO blob_chunks (sha256, seq, data) VALUES ('{name}', 0, 'abc')")
        aged(cached(n1, sha), 2 * 3600)  # used: stays however old
        unused_old = fake_blob(n1, 1, 2 * 3600)
        unused_young = fake_blob(n1, 2, 60)
        stray = n1.data_dir / "blobs" / "zz" / "not-a-blob"
        stray.parent.mkdir()
        stray.write_bytes(b"x")
        aged(stray, 2 * 3600)

        n1.start()
        wait_until(lambda: not n1.sql(f"SELECT 1 FROM blobs WHERE sha256 = '{old}'"),
                   what="the old orphan deleted from the database")
        wait_until(lambda: not unused_old.exists(), what="the old unused cache file removed")
        assert sorted(r[0] for r in n1.sql("SELECT sha256 FROM blobs")) == sorted([sha, young])
        assert n1.sql(f"SELECT count(*) FROM blob_chunks WHERE sha256 = '{old}'") == [("0",)]
        assert unused_young.exists() and stray.exists() and cached(n1, sha).exists()
        log = n1.log()
        assert "store: deleted 1 blob(s) no release names from the database" in log, log
        assert "store: removed 1 cached blob(s) no release needs" in log, log
        assert_image(checkin(n1, "door", "1.0.0"), data, "1.1.0", "the named blob after the trim")


def test_blobs_a_single_node_on_sqlite_keeps_unused_blobs():
    """On SQLite the store is the only copy: an unused blob (an interrupted publish's) is
    reported by `otad store verify`, never removed by the server."""
    with Server(sqlite=True) as srv:
        srv.add_product("door")
        srv.add_release("door", make_image("esp8266", 120_000, seed=95, flash_size="4M"), "1.0.0")
        unused = fake_blob(srv, 3, 2 * 3600)
        srv.start()
        assert_status(checkin(srv, "door", "1.0.0"), 304, "current device")
        time.sleep(1.5)  # three polls of the refresher
        assert unused.exists(), "a single node removed a blob from its store"
