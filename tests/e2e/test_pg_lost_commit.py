"""The registry on PostgreSQL when a COMMIT's reply is lost (docs/DATABASE.md, "A lost
COMMIT reply"): the connection drops after the flusher's COMMIT reached the server, which
commits, and before its reply reached otad. The flusher holds the batch and tries it again
once connected; the check-in counts must come out exact, not doubled.

A proxy (tests/tools/pgproxy.py) sits between otad and a throwaway PostgreSQL 15 of the
test's own (tests/tools/pgcluster.py; OTAD_TEST_POSTGRESQL is not read: the test needs
the proxy in the way) and cuts the registry's connection right after it forwards the
COMMIT of a transaction that upserted devices.

Also on PostgreSQL: an operator's lock on the devices table makes otad's statements time out
(database_statement_timeout_ms): the API answers 503 database_timeout, and the registry,
whose connection bounds only its waits for a lock,
holds its batch and writes it, once, when the lock is gone."""

import contextlib
import sys
import time

import devices
import harness
from devices import Device
from harness import REPO, Server, assert_api_error, assert_status, make_image, wait_until

sys.path.insert(0, str(REPO / "tests" / "tools"))
import pgcluster  # noqa: E402  (tests/tools is not a package)
import pgproxy  # noqa: E402

SETTLE_S = 3.0  # after the counts are right, long enough for a wrong second application to show


@contextlib.contextmanager
def node_behind_proxy(args=()):
    """otad on a new database of its own PostgreSQL, through a PgProxy that matches the
    registry's device upsert, with ARGS; yields (srv, proxy, the database's URL)."""
    with contextlib.ExitStack() as stack:
        try:
            pg = pgcluster.PgCluster().start()
        except pgcluster.PgMissing as e:
            raise AssertionError(f"PostgreSQL 15 is needed: {e}") from None
        stack.callback(pg.stop)
        url = pg.create_database()
        stack.callback(harness.postgresql_forget, url)
        host_port = url.split("@", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        proxy = stack.enter_context(pgproxy.PgProxy(host, int(port), match=b"INSERT INTO devices"))
        srv = Server(name="lost-commit")
        if srv.database_name:  # under e2e-pg: the stage's database goes back unused
            harness._spare_databases.append((srv.database_name, srv.database_url))
            srv.database_name = None
        srv.database_url = url  # the CLI and srv.sql go straight to the database
        stack.enter_context(srv)
        srv.add_product("door", "esp8266")
        srv.add_release("door", make_image("esp8266", 150_000, seed=7, flash_size="4M"), "1.0.0")
        # Lamp's first device arrives in the batch whose reply is lost: the flusher puts it aside
        # until it has counted lamp's devices and commits it after the others, so after the
        # retry finds the batch committed only it is left to write.
        srv.add_product("lamp", "esp8266")
        srv.add_release("lamp", make_image("esp8266", 150_000, seed=8, flash_size="4M"), "1.0.0")
        # One flush a second: the check-ins below land in one batch (they take milliseconds).
        srv.start(args=["--database", proxy.url_for(url), "--registry-flush-ms", "1000"] + list(args))
        yield srv, proxy, url


def device(n):
    return Device(sta_mac=devices.mac(n), chip_id=2000 + n, free_space=1044480, sketch_size=300000,
                  sketch_md5="0" * 32, chip_size=4194304, sdk_version="2.2.2-dev(38a443e)",
                  version="1.0.0")


def checkins(srv):
    return {r[0].upper(): int(r[1]) for r in srv.sql(
        "SELECT upper(lpad(to_hex(mac), 12, '0')), checkins FROM devices")}


def check_in(srv, n, times, product="door"):
    for _ in range(times):
        assert_status(srv.send(devices.esp8266(f"/update/{product}", srv.port, device(n))), 304,
                      f"device {n} check-in")


def mac_hex(n):
    return devices.mac(n).replace(":", "").upper()


def test_lost_commit_reply_counts_each_checkin_once():
    with node_behind_proxy() as (srv, proxy, _):
        check_in(srv, 1, 3)
        wait_until(lambda: checkins(srv).get(mac_hex(1)) == 3, what="3 check-ins of device 1")

        # The next registry commit reaches the server, commits, and its reply is lost.
        proxy.lose_commits(1)
        check_in(srv, 1, 2)
        check_in(srv, 2, 1)  # a new device in the same batch
        check_in(srv, 3, 1, product="lamp")  # put aside: written in a second transaction
        wait_until(lambda: proxy.lost == 1, what="the registry's COMMIT reply lost")
        want = {mac_hex(1): 5, mac_hex(2): 1, mac_hex(3): 1}
        wait_until(lambda: checkins(srv) == want, timeout=15,
                   what=f"check-ins {want} (got {checkins(srv)})")
        # The held batch is retried after the reconnect: it must not land a second time.
        time.sleep(SETTLE_S)
        assert checkins(srv) == want, f"check-ins after the retry: {checkins(srv)}, want {want}"
        assert proxy.connections >= 2, "the registry did not connect again"

        # Later batches still count.
        check_in(srv, 1, 1)
        want[mac_hex(1)] = 6
        wait_until(lambda: checkins(srv) == want, what=f"check-ins {want}")


def test_lock_held_elsewhere_times_out_then_batch_lands_once():
    with node_behind_proxy(["--database-statement-timeout-ms", "300"]) as (srv, _, url):
        token = srv.token("read")
        check_in(srv, 1, 2)
        wait_until(lambda: checkins(srv).get(mac_hex(1)) == 2, what="2 check-ins of device 1")
        if "/usr/lib/python3/dist-packages" not in sys.path:
            sys.path.append("/usr/lib/python3/dist-packages")
        import psycopg2
        operator = psycopg2.connect(url)  # a transaction, as an operator's psql would hold it
        try:
            with operator.cursor() as cur:
                cur.execute("LOCK TABLE devices IN ACCESS EXCLUSIVE MODE")
            check_in(srv, 1, 3)  # answered from memory; their batch waits for the lock
            assert_api_error(srv.api("GET", "/api/v1/products/door/devices", token), 503,
                             "database_timeout", "the devices list behind a lock")
            # The API's statement, and the registry's wait for the lock (its batch may be slow).
            wait_until(lambda: b"cancelled after the statement_timeout" in srv.log_path.read_bytes(),
                       what="the API's statement timeout logged")
            wait_until(lambda: b"cancelled after the lock_timeout" in srv.log_path.read_bytes(),
                       what="the registry's lock timeout logged")
            time.sleep(1.5)  # several flushes time out while the lock is held
        finally:
            operator.rollback()
            operator.close()
        wait_until(lambda: checkins(srv).get(mac_hex(1)) == 5, what="5 check-ins of device 1")
        time.sleep(SETTLE_S)
        assert checkins(srv) == {mac_hex(1): 5}, f"check-ins after the lock: {checkins(srv)}"
        assert srv.api("GET", "/api/v1/products/door/devices", token).status == 200
