"""tests/tools/pgcluster.py, the throwaway PostgreSQL 15 the PostgreSQL
tests stand on: a cluster starts on a free port of 127.0.0.1, holds
separate databases reachable by the URL it gives, keeps its data across a
stop and a start on the same port, survives a kill -9 of its postmaster
(crash recovery) and leaves no process or folder behind. Each test is bounded
by pgcluster's own timeouts and run.py's alarm."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import pgcluster  # noqa: E402
from pgcluster import PgCluster, PgError  # noqa: E402

PGCLUSTER = Path(__file__).resolve().parents[1] / "tools" / "pgcluster.py"


def psql_url(url, sql):
    """Runs SQL through the URL itself (what otad will be given); returns (rc, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=30, env=env)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def postgres_processes(data_dir):
    """Pids of processes whose command line names DATA_DIR (the postmaster does)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(data_dir).encode() in cmd:
                pids.append(int(entry))
    return pids


def test_two_databases_by_url():
    with PgCluster() as pg:
        assert pg.port and pg.pid, "started without a port or a pid"
        a, b = pg.create_database(), pg.create_database("second")
        assert b == f"postgresql://otad@127.0.0.1:{pg.port}/second", b
        assert a != b and a.startswith(f"postgresql://otad@127.0.0.1:{pg.port}/t_"), a
        for url, rows in ((a, "(1), (2)"), (b, "(7)")):
            rc, _, err = psql_url(url, f"CREATE TABLE t (v BIGINT); INSERT INTO t VALUES {rows}")
            assert rc == 0, f"{url}: {err}"
        assert psql_url(a, "SELECT sum(v) FROM t")[1] == "3"
        assert pg.psql("second", "SELECT sum(v) FROM t").strip() == "7"
        # The settings of a test box, as the module promises.
        shown = pg.psql("second", "SHOW fsync; SHOW synchronous_commit; SHOW full_page_writes; "
                                  "SHOW max_connections; SHOW shared_buffers; SHOW lc_collate").split()
        assert shown == ["off", "off", "off", "400", "256MB", "C"], shown
        pg.drop_database("second")
        rc, _, err = psql_url(b, "SELECT 1")
        assert rc != 0 and "does not exist" in err, f"dropped database still answers: {rc} {err}"
        try:
            pg.psql(a.rsplit("/", 1)[1], "SELECT * FROM no_such_table")
            raise AssertionError("psql on a missing table did not raise")
        except PgError as e:
            assert "no_such_table" in str(e), str(e)


def test_stop_start_keeps_port_and_data():
    with PgCluster() as pg:
        url = pg.create_database()
        assert psql_url(url, "CREATE TABLE t (v BIGINT); INSERT INTO t VALUES (42)")[0] == 0
        port, data = pg.port, pg.data
        pg.stop_server()
        rc, _, err = psql_url(url, "SELECT 1")
        assert rc != 0, "a stopped server still answered"
        assert not postgres_processes(data), "processes left after stop_server"
        t0 = time.monotonic()
        pg.start_server()
        assert pg.port == port, f"came back on port {pg.port}, not {port}"
        assert psql_url(url, "SELECT v FROM t")[1] == "42", "data lost across stop and start"
        assert time.monotonic() - t0 < 15, "start_server took over 15 s"


def test_kill_then_recover():
    # Synchronous commit on: the test counts on the last commit before the kill.
    with PgCluster(settings={"synchronous_commit": "on"}) as pg:
        url = pg.create_database()
        assert psql_url(url, "CREATE TABLE t (v BIGINT); INSERT INTO t VALUES (1)")[0] == 0
        postmaster = pg.pid
        pg.kill()
        assert not postgres_processes(pg.data), "processes left after kill"
        assert psql_url(url, "SELECT 1")[0] != 0, "a killed server still answered"
        pg.start_server()
        assert pg.pid != postmaster, "the same postmaster after a kill"
        assert psql_url(url, "INSERT INTO t VALUES (2); SELECT count(*) FROM t")[1] == "2"
        assert "was interrupted" in pg.log_path.read_text() or \
            "not properly shut down" in pg.log_path.read_text(), "no crash recovery in the log"


def test_stop_removes_everything_and_is_safe_twice():
    pg = PgCluster().start()
    base, data = pg.base, pg.data
    assert postgres_processes(data), "no process names the data folder"
    pg.stop()
    pg.stop()
    assert not base.exists(), f"{base} left behind"
    assert not postgres_processes(data), "processes left after stop"
    assert not pg._registered, "stop() left its atexit hook registered"


def test_command_line():
    with tempfile.TemporaryDirectory(prefix="otad-pgcli-") as tmp:
        os.chmod(tmp, 0o755)  # as root the server runs as postgres, which must reach the folder
        folder = Path(tmp) / "pg"
        r = subprocess.run([sys.executable, str(PGCLUSTER), "start", str(folder)],
                           capture_output=True, text=True, timeout=90)
        try:
            assert r.returncode == 0, r.stderr
            info = json.loads((folder / "cluster.json").read_text())
            assert r.stdout.strip() == info["url"] == \
                f"postgresql://otad@127.0.0.1:{info['port']}/otad", (r.stdout, info)
            # Still running after the command exited: its atexit must not have stopped it.
            assert psql_url(info["url"], "SELECT current_user")[1] == "otad"
            r2 = subprocess.run([sys.executable, str(PGCLUSTER), "url", str(folder), "other"],
                                capture_output=True, text=True, timeout=30)
            assert r2.stdout.strip() == info["url"][:-len("otad")] + "other", r2.stdout
            again = subprocess.run([sys.executable, str(PGCLUSTER), "start", str(folder)],
                                   capture_output=True, text=True, timeout=30)
            assert again.returncode == 1 and "already holds" in again.stderr, again.stderr
            assert psql_url(info["url"], "SELECT 1")[0] == 0, "a refused start stopped the cluster"
        finally:
            stop = subprocess.run([sys.executable, str(PGCLUSTER), "stop", str(folder)],
                                  capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        assert not folder.exists(), f"stop left {list(folder.iterdir())}"
        assert not postgres_processes(folder / "data"), "processes left after stop"


def test_missing_postgresql_is_a_clear_error():
    env = dict(os.environ, OTAD_PG_BIN="/nonexistent/bin")
    with tempfile.TemporaryDirectory(prefix="otad-pgcli-") as tmp:
        r = subprocess.run([sys.executable, str(PGCLUSTER), "start", str(Path(tmp) / "pg")],
                           capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 1, r.returncode
    assert "PostgreSQL 15 is not installed" in r.stderr and "scripts/deps" in r.stderr, r.stderr
    assert pgcluster.PG_BIN.exists(), "this machine has no PostgreSQL 15: run scripts/deps"


def test_a_crashed_run_leaves_nothing():
    script = ("import sys; sys.path.insert(0, %r); import pgcluster; "
              "c = pgcluster.PgCluster().start(); print(c.base, c.data, flush=True); "
              "raise RuntimeError('a test run crashes')" % str(PGCLUSTER.parent))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90)
    assert r.returncode != 0 and "a test run crashes" in r.stderr, r.stderr
    base, data = r.stdout.split()
    assert not Path(base).exists(), f"{base} left behind by a crashed run"
    assert not postgres_processes(data), "a crashed run left PostgreSQL running"


def test_a_taken_port_is_retried():
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    real, offered = pgcluster._free_port, []

    def taken_first():  # the race the bind test cannot close: the port is taken after it
        offered.append(taken.getsockname()[1] if not offered else real())
        return offered[-1]

    pgcluster._free_port = taken_first
    try:
        with PgCluster() as pg:
            assert len(offered) == 2 and pg.port == offered[1], (offered, pg.port)
            assert pg.psql("postgres", "SELECT 1").strip() == "1"
    finally:
        pgcluster._free_port = real
        taken.close()
