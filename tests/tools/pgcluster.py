#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 for tests, benchmarks and scripts.

What it owns: one private cluster in a folder of its own (initdb of Debian's
postgresql-15, superuser `otad`, trust authentication, UTF8, locale C),
served on 127.0.0.1 on a free TCP port with its unix socket inside the
folder, tuned for a test box (no fsync, no full-page writes, 400
connections) and logging to `postgres.log` in the folder. It creates and
drops databases, runs SQL with psql, and provides the faults the tests need:
kill -9 of the postmaster, and a stop and a start on the same port and data
("PostgreSQL away for 30 s"). It decides nothing about otad: the tests do.

As root (CI, containers) initdb and postgres refuse to run, so both run as
the `postgres` system user (Debian's postgresql-common creates it) through
runuser, in a folder chowned to it; otherwise they run as the current user.

Module use:
    with PgCluster() as pg:
        url = pg.create_database()        # postgresql://otad@127.0.0.1:PORT/t_...
        pg.psql("t_...", "SELECT 1")
A started cluster is also stopped at interpreter exit (atexit), so a crashed
test run leaves no server behind.

Command line (stdlib only):
    pgcluster.py start DIR      start a cluster in DIR, create database otad, print its
                                URL, leave it running (DIR/cluster.json: port, pid, url)
    pgcluster.py stop DIR       stop it and remove what start made in DIR
    pgcluster.py url DIR [DB]   the URL of database DB (default otad)
Exit status 1, with a message, when PostgreSQL 15 is not installed (scripts/deps).
"""

import atexit
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("OTAD_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "otad"
HOST = "127.0.0.1"
RUN_AS_WHEN_ROOT = "postgres"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
PSQL_TIMEOUT_S = 60
PORT_ATTEMPTS = 8
# What each test cluster runs with: durability off (a test box, nothing to keep),
# room for the e2e suite's and the benchmark's connections.
SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "'256MB'",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
    "timezone": "'UTC'",
}
# What start() writes and stop() removes in a folder the caller named.
OWN_NAMES = ("data", "sock", "postgres.log", "cluster.json")


class PgError(Exception):
    """PostgreSQL could not be started, stopped or asked: the message says why."""


class PgMissing(PgError):
    """PostgreSQL 15 is not installed."""


def _run_as():
    """The system user initdb and postgres run as: `postgres` when we are root, else us."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError:
        raise PgMissing(f"running as root needs the '{RUN_AS_WHEN_ROOT}' system user "
                        "(created by postgresql-common: sh scripts/deps)") from None


def _free_port():
    """A TCP port on HOST nobody listens on right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _clean_env():
    """Our environment without PG* variables, so nothing but our arguments picks the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _pid_alive(pid):
    """Whether PID exists, a zombie included: postgres refuses a data folder whose
    postmaster.pid names any process, so a killed server counts until it is reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children(pid):
    """The pids whose parent is PID (the postmaster's backends and helpers)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(_pid_alive(p) for p in pids)


class PgCluster:
    """One private PostgreSQL 15 cluster; see the module's docstring.

    dir: the folder to hold it (created if missing; what start() writes there is
    removed by stop()); None: a new temporary folder, removed whole by stop().
    settings: postgresql.conf values over SETTINGS, e.g. {"synchronous_commit": "on"}
    for a test that kills the server and counts on its last commits (with the
    default asynchronous commit, kill() loses up to ~0.6 s of them; fsync is off
    either way, which only a crash of the machine would show).
    """

    def __init__(self, dir=None, settings=None):
        self._given = dir is not None
        self.settings = dict(SETTINGS, **(settings or {}))
        self.base = Path(dir).resolve() if dir is not None else None
        self.port = None
        self.pid = None
        self._started = False
        self._registered = False
        self._owns_files = False  # stop() removes only what start() made (or attach() found)

    # --- paths ---

    @property
    def data(self):
        return self.base / "data"

    @property
    def sock(self):
        return self.base / "sock"

    @property
    def log_path(self):
        return self.base / "postgres.log"

    def log_tail(self, lines=20):
        """The last LINES lines of the server's log ('' when there is none)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- running PostgreSQL's programs ---

    def _cmd(self, argv, timeout, check=True):
        """Runs ARGV (a PostgreSQL program) as the cluster's owner. Returns the CompletedProcess."""
        user = _run_as()
        if user is not None:
            argv = ["runuser", "-u", user.pw_name, "--"] + argv
        try:
            r = subprocess.run(argv, env=_clean_env(), cwd=self.base, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PgError(f"{' '.join(argv)}: no answer in {timeout} s\n{self.log_tail()}") from None
        if check and r.returncode != 0:
            raise PgError(f"{' '.join(argv)}: exit {r.returncode}\n{r.stderr.strip()}")
        return r

    def _program(self, name):
        path = PG_BIN / name
        if not os.access(path, os.X_OK):
            raise PgMissing(f"{path} is missing: PostgreSQL 15 is not installed "
                            "(run: sh scripts/deps, which installs postgresql-15)")
        return str(path)

    # --- lifecycle ---

    def start(self):
        """Creates the cluster (initdb) and starts it on a free port. Returns self.

        On failure (PgError, PgMissing) nothing is left running and what was made is removed.
        """
        if self._started:
            return self
        try:
            return self._create_and_start()
        except BaseException:
            self.stop()
            raise

    def _create_and_start(self):
        initdb = self._program("initdb")
        self._program("pg_ctl")
        user = _run_as()
        if self.base is None:
            self.base = Path(tempfile.mkdtemp(prefix="otad-pg-"))
        else:
            self.base.mkdir(parents=True, exist_ok=True)
            if any((self.base / n).exists() for n in ("data", "cluster.json")):
                raise PgError(f"{self.base} already holds a cluster (pgcluster.py stop {self.base})")
        self._owns_files = True
        self._register()
        self.sock.mkdir()
        if user is not None:
            for p in (self.base, self.sock):
                os.chown(p, user.pw_uid, user.pw_gid)
            # The server's user must be able to reach its folder through every parent.
            probe = self._cmd(["test", "-w", str(self.base)], 10, check=False)
            if probe.returncode != 0:
                raise PgError(f"user {user.pw_name} cannot write {self.base}: a parent folder is "
                              "closed to it (chmod o+x it, or choose a folder under /tmp)")
        self._cmd([initdb, "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                   "--locale=C", "--no-sync", "--no-instructions"], 120)
        conf = "".join(f"{k} = {v}\n" for k, v in self.settings.items())
        conf += f"unix_socket_directories = '{self.sock}'\n"
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n# pgcluster.py: a throwaway test cluster\n" + conf)
        self._started = True
        self._start_on_free_port()
        return self

    def _start_on_free_port(self):
        last = None
        for _ in range(PORT_ATTEMPTS):
            port = _free_port()
            try:
                self._pg_ctl_start(port)
                return
            except PgError as e:
                last = e
                # Another process took the port between our bind test and the server's: retry.
                if "could not bind" not in self.log_tail(40) and "in use" not in self.log_tail(40):
                    raise
        raise PgError(f"no free port after {PORT_ATTEMPTS} attempts: {last}")

    def _pg_ctl_start(self, port):
        pg_ctl = self._program("pg_ctl")
        r = self._cmd([pg_ctl, "start", "-D", str(self.data), "-l", str(self.log_path), "-w",
                       "-t", str(START_TIMEOUT_S), "-o", f"-p {port}"], START_TIMEOUT_S + 10,
                      check=False)
        if r.returncode != 0:
            raise PgError(f"postgres did not start on port {port}: {r.stderr.strip()}\n"
                          f"{self.log_tail()}")
        self.port = port
        self.pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def stop_server(self):
        """Stops the server (fast shutdown) and keeps its data: start_server() brings it back."""
        if self.pid is None:
            return
        pg_ctl = self._program("pg_ctl")
        r = self._cmd([pg_ctl, "stop", "-D", str(self.data), "-m", "fast", "-w", "-t",
                       str(STOP_TIMEOUT_S)], STOP_TIMEOUT_S + 10, check=False)
        if r.returncode != 0 and _pid_alive(self.pid):
            self.kill()
        self.pid = None

    def start_server(self):
        """Starts the stopped (or killed) server again on the same port and data."""
        if not self._started or self.port is None:
            raise PgError("start_server: start() the cluster first")
        if self.pid is not None and _pid_alive(self.pid):
            return
        self.pid = None
        self._pg_ctl_start(self.port)

    def kill(self):
        """SIGKILLs the postmaster (a crash); waits until its processes are gone. Data stays."""
        if self.pid is None:
            return
        kids = _children(self.pid)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # Backends leave on their own when they see the postmaster die; a new postmaster
        # refuses to start while one still holds the old shared memory.
        if not _wait_gone([self.pid] + kids, 10):
            for p in kids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _wait_gone(kids, 5)
        self.pid = None

    def stop(self):
        """Stops the server and removes what start() made. Safe to call twice, or unstarted."""
        try:
            if self.pid is not None:
                self.stop_server()
        finally:
            self._remove_files()
            self._started = False
            if self._registered:
                atexit.unregister(self.stop)
                self._registered = False

    def _remove_files(self):
        if not self._owns_files or self.base is None or not self.base.exists():
            return
        self._owns_files = False
        if not self._given:
            shutil.rmtree(self.base, ignore_errors=True)
            return
        for name in OWN_NAMES:
            p = self.base / name
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()
        try:
            self.base.rmdir()
        except OSError:
            pass  # the caller's files are left alone

    def _register(self):
        if not self._registered:
            atexit.register(self.stop)
            self._registered = True

    def detach(self):
        """Leaves the server running at interpreter exit (the command line's start)."""
        if self._registered:
            atexit.unregister(self.stop)
            self._registered = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- databases ---

    def url(self, dbname="otad"):
        """The libpq URL of database DBNAME over TCP."""
        if self.port is None:
            raise PgError("url: the cluster is not started")
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def psql(self, dbname, sql, timeout=PSQL_TIMEOUT_S):
        """Runs SQL (one or more statements) on DBNAME; stops at the first error (PgError).

        Returns psql's stdout: one line per row, columns separated by '|', no headers.
        """
        return self._psql(dbname, ["-f", "-"], sql, timeout)

    def psql_file(self, dbname, path, timeout=PSQL_TIMEOUT_S):
        """Runs the SQL file PATH on DBNAME as `psql -f` does; PgError at its first error."""
        return self._psql(dbname, ["-f", str(path)], None, timeout)

    def _psql(self, dbname, args, stdin, timeout):
        if self.port is None:
            raise PgError("psql: the cluster is not started")
        argv = [self._program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", dbname] + args
        try:
            r = subprocess.run(argv, env=_clean_env(), capture_output=True, text=True,
                               timeout=timeout, input=stdin)
        except subprocess.TimeoutExpired:
            raise PgError(f"psql on {dbname}: no answer in {timeout} s") from None
        if r.returncode != 0:
            raise PgError(f"psql on {dbname}: {r.stderr.strip()}")
        return r.stdout

    def create_database(self, name=None):
        """Creates an empty database NAME (t_<random> when None). Returns its URL."""
        name = name or "t_" + secrets.token_hex(6)
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name):
        """Drops database NAME, ending its sessions first."""
        self.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # --- the command line's state file ---

    def save(self):
        info = {"port": self.port, "pid": self.pid, "url": self.url(), "dir": str(self.base),
                "data": str(self.data), "log": str(self.log_path)}
        (self.base / "cluster.json").write_text(json.dumps(info, indent=2) + "\n")

    @classmethod
    def attach(cls, dir):
        """The cluster `pgcluster.py start DIR` left running, from DIR/cluster.json."""
        base = Path(dir).resolve()
        try:
            info = json.loads((base / "cluster.json").read_text())
        except (OSError, ValueError) as e:
            raise PgError(f"{base}/cluster.json: {e} (no cluster started there?)") from None
        c = cls(base)
        c.port, c.pid, c._started, c._owns_files = info["port"], info["pid"], True, True
        if not _pid_alive(c.pid):
            c.pid = None
        return c


def main(argv):
    usage = "usage: pgcluster.py start DIR | stop DIR | url DIR [DB]"
    if len(argv) < 2 or argv[0] not in ("start", "stop", "url") or \
            len(argv) > (3 if argv[0] == "url" else 2):
        print(usage, file=sys.stderr)
        return 2
    verb, folder = argv[0], argv[1]
    try:
        if verb == "start":
            c = PgCluster(folder)
            try:
                c.start()
                c.create_database("otad")
                c.save()
            except BaseException:
                c.stop()
                raise
            c.detach()
            print(c.url("otad"))
        elif verb == "stop":
            PgCluster.attach(folder).stop()
        else:
            print(PgCluster.attach(folder).url(argv[2] if len(argv) > 2 else "otad"))
    except PgError as e:
        print(f"pgcluster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
