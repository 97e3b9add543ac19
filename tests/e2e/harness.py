"""End-to-end harness: runs the real otad binary and talks to it over TCP.

What it owns: starting `otad serve` on 127.0.0.1 with a fresh temporary data
dir, finding its port from the "listening on 127.0.0.1:PORT" log line,
running CLI subcommands on the same data dir, exchanging raw bytes with the
server (responses are kept byte for byte so tests can assert exact header
lines), small JSON-API and curl helpers, and test images made by
tests/tools/mkimage.py. It does not decide anything about what is correct:
that lives in the test modules, which cite sections of the wire reference
(docs/reference/stock-clients.md, "§n" below).

Every server started through Server is stopped when its `with` block ends,
even when the test fails; run.py also calls cleanup_all() after each test as
a backstop. Every socket operation and every subprocess has a timeout.

Python standard library only.
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MKIMAGE = REPO / "tests" / "tools" / "mkimage.py"
DEFAULT_OTAD = REPO / "build" / "otad"

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0   # the server must log its port within this
STOP_TIMEOUT_S = 10.0    # and exit after SIGTERM within this
IO_TIMEOUT_S = 10.0      # default bound on one request/response exchange
CLI_TIMEOUT_S = 30.0
POLL_TIMEOUT_S = 5.0     # "visible within about 1 s" / "committed at least once a second"

LISTENING_RE = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
LISTENING_TLS_RE = re.compile(rb"listening for HTTPS on 127\.0\.0\.1:(\d+)")
TOKEN_RE = re.compile(r"^otad_[0-9a-f]{64}$")

_live_servers = set()
_session_dir = None
# The database backend of every Server: SQLite in its data folder, or, when tests/run's e2e-pg
# stage sets OTAD_TEST_POSTGRESQL (the URL of a throwaway cluster's database), a fresh
# PostgreSQL database per Server, dropped with it.
POSTGRESQL_URL = os.environ.get("OTAD_TEST_POSTGRESQL", "")
BACKEND = "postgresql" if POSTGRESQL_URL else "sqlite"
_databases_made = 0


_pg_connections = {}


def _pg_connection(url):
    """A kept connection to URL (psycopg2, Debian's python3-psycopg2: the e2e-pg stage opens
    thousands; a psql process each would cost a second per test)."""
    conn = _pg_connections.get(url)
    if conn is None or conn.closed:
        if "/usr/lib/python3/dist-packages" not in sys.path:
            sys.path.append("/usr/lib/python3/dist-packages")  # Debian's, for a pyenv python too
        import psycopg2
        conn = psycopg2.connect(url)
        conn.autocommit = True
        _pg_connections[url] = conn
    return conn


def postgresql_exec(sql, url=None):
    """Runs SQL on URL (default: the cluster's own database); returns its rows, each a list of
    column texts ('' for NULL), or [] for a statement without rows."""
    url = url or POSTGRESQL_URL
    conn = _pg_connection(url)
    import psycopg2
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else []
    except psycopg2.Error as e:
        _pg_connections.pop(url, None)
        raise AssertionError(f"PostgreSQL: {sql}: {e}".strip())
    return [["" if v is None else str(v) for v in row] for row in rows]


def postgresql_forget(url):
    """Closes the kept connection to URL (before the database is dropped)."""
    conn = _pg_connections.pop(url, None)
    if conn is not None:
        conn.close()


# Databases a finished Server left, emptied: CREATE DATABASE and the migrations take about two
# seconds on a busy machine, emptying one a tenth of that.
_spare_databases = []
TRUNCATED_ROWS = 10000  # a table of more rows is emptied by TRUNCATE, a smaller one by DELETE


def postgresql_recycle(name, url):
    """Empties database NAME (every table but the migrations' own, the seed row put back, every
    sequence back at its start, the sessions of a killed otad ended) and keeps it for the next
    Server."""
    postgresql_forget(url)
    postgresql_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
    tables = [r[0] for r in postgresql_exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                            "AND tablename <> 'schema_migrations'", url)]
    # TRUNCATE costs tens of milliseconds a table even when it is empty (new files for the table
    # and its indexes), half a second for all of them, where a DELETE of a few rows costs next to
    # nothing: a table of more than TRUNCATED_ROWS rows is truncated, a smaller one emptied by
    # DELETE (foreign keys and triggers not fired: every table is emptied), and the sequences are
    # set back to their start apart, as RESTART IDENTITY would.
    counts = postgresql_exec(" UNION ALL ".join(
        f"SELECT '{t}', (SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {TRUNCATED_ROWS + 1}) AS r)"
        for t in tables), url)
    big = [t for t, n in counts if int(n) > TRUNCATED_ROWS]
    small = [t for t, n in counts if 0 < int(n) <= TRUNCATED_ROWS]
    postgresql_exec((f"TRUNCATE {', '.join(big)} CASCADE; " if big else "") +
                    "SET session_replication_role = replica; " +
                    "".join(f"DELETE FROM {t}; " for t in small) +
                    "SET session_replication_role = DEFAULT; "
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                    "FROM pg_sequences WHERE schemaname = 'public'; "
                    "INSERT INTO meta (key, value) VALUES ('catalog_generation', 1)", url)
    _spare_databases.append((name, url))


def postgresql_new_database():
    """A fresh (or emptied) database in the test cluster; returns (name, url)."""
    global _databases_made
    if _spare_databases:
        return _spare_databases.pop()
    _databases_made += 1
    name = f"otad_e2e_{os.getpid()}_{_databases_made}"
    postgresql_exec(f"CREATE DATABASE {name}")
    base = POSTGRESQL_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


LAST_SERVER_LOGS = []  # logs of servers whose `with` block ended during the current test (run.py -v)


def otad_bin():
    """The otad binary under test: $OTAD_BIN (run.py sets it from --otad) or build/otad."""
    return os.environ.get("OTAD_BIN") or str(DEFAULT_OTAD)


def session_dir():
    """A temp dir shared by the whole run (image cache); removed by cleanup_session()."""
    global _session_dir
    if _session_dir is None:
        _session_dir = tempfile.mkdtemp(prefix="otad-e2e-session-")
    return Path(_session_dir)


def cleanup_session():
    global _session_dir
    if _session_dir is not None and not os.environ.get("OTAD_E2E_KEEP"):
        shutil.rmtree(_session_dir, ignore_errors=True)
    _session_dir = None


def cleanup_all():
    """Kill any server a test left running. Returns how many there were."""
    leftovers = list(_live_servers)
    for srv in leftovers:
        srv.kill()
    return len(leftovers)


def clean_env(extra=None):
    """The environment for otad: ours minus every OTAD_* variable, plus EXTRA."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAD_")}
    if extra:
        env.update(extra)
    return env


def wait_until(predicate, timeout=POLL_TIMEOUT_S, interval=0.05, what="condition"):
    """Polls PREDICATE until it returns a truthy value, which is returned.

    Raises AssertionError naming WHAT (and the last value seen) after TIMEOUT."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; last: {_short(last)}")
        time.sleep(interval)


def _short(value, limit=300):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------
# Digests and images


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def roundup4096(n):
    return (n + 4095) // 4096 * 4096


def make_image(platform, size, *, flash_size=None, seed=0, gzip=False, chip=None, flash_mode=None,
               hash_appended=False, app_version=None, app_project=None, secure_version=None,
               idf_version=None, elf_sha256=None, min_chip_rev=None, max_chip_rev=None,
               no_app_desc=False):
    """Writes (once per argument set) an image with tests/tools/mkimage.py; returns its Path.

    An ESP32 image carries arduino-esp32's framework app descriptor unless APP_VERSION or
    APP_PROJECT make it an ESP-IDF app's, or NO_APP_DESC leaves it out (mkimage.py's doc).
    """
    args = ["--platform", platform, "--size", str(size), "--seed", str(seed)]
    for flag, value in (("--app-version", app_version), ("--app-project", app_project),
                        ("--secure-version", secure_version), ("--idf-version", idf_version),
                        ("--elf-sha256", elf_sha256), ("--min-chip-rev", min_chip_rev),
                        ("--max-chip-rev", max_chip_rev)):
        if value is not None:
            args += [flag, str(value)]
    if no_app_desc:
        args += ["--no-app-desc"]
    if flash_size:
        args += ["--flash-size", flash_size]
    if flash_mode is not None:
        args += ["--flash-mode", str(flash_mode)]
    if chip:
        args += ["--chip", chip]
    if gzip:
        args += ["--gzip"]
    if hash_appended:
        args += ["--hash-appended"]
    name = "img-" + "-".join(a.lstrip("-") for a in args) + ".bin"
    out = session_dir() / name
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        r = subprocess.run([sys.executable, str(MKIMAGE)] + args + [str(tmp)],
                           capture_output=True, timeout=CLI_TIMEOUT_S)
        if r.returncode != 0:
            raise AssertionError(f"mkimage.py {' '.join(args)} failed ({r.returncode}): "
                                 f"{r.stderr.decode(errors='replace').strip()}")
        tmp.rename(out)
    return out


def scratch_file(name, data):
    """Writes DATA to NAME in the session dir (overwriting); returns its Path."""
    out = session_dir() / name
    out.write_bytes(data)
    return out


def json_list(value, key):
    """VALUE[KEY] when VALUE is an object, VALUE itself when it is a list (CLI --json output)."""
    if isinstance(value, dict):
        assert key in value, f"JSON object without {key!r}: {_short(value)}"
        return value[key]
    assert isinstance(value, list), f"expected a JSON list or object, got {_short(value)}"
    return value


def make_blob(size, seed=0, name=None):
    """Arbitrary bytes (a filesystem image has no header); returns its Path."""
    out = session_dir() / (name or f"blob-{size}-{seed}.bin")
    if not out.exists():
        out.write_bytes(random.Random(seed).randbytes(size))
    return out


# ---------------------------------------------------------------------------
# Raw HTTP


class Response:
    """One HTTP response exactly as received.

    raw: every byte read. head: the bytes up to and including the blank line.
    header_lines: the header lines (bytes, without CRLF) in order. headers:
    (name, value) str pairs in order. body: the bytes after the head (decoded
    from chunked framing when the response was chunked; raw_body keeps the
    framing). closed: the server closed the connection (EOF or reset) before
    our deadline. complete_head: the blank line ending the head was seen."""

    def __init__(self, raw, closed, reset=False, timed_out=False):
        self.raw = raw
        self.closed = closed
        self.reset = reset
        self.timed_out = timed_out
        self.status = None
        self.status_line = ""
        self.version = ""
        self.header_lines = []
        self.headers = []
        self.head = b""
        self.raw_body = b""
        self.body = b""
        self.complete_head = False
        self._parse()

    def _parse(self):
        raw = self.raw
        end = raw.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = raw.find(b"\n\n")
            sep = 2
        if end >= 0:
            self.complete_head = True
            self.head = raw[:end + sep]
            self.raw_body = raw[end + sep:]
        else:
            self.head = raw
        lines = self.head.replace(b"\r\n", b"\n").split(b"\n")
        first = lines[0] if lines else b""
        self.status_line = first.decode("latin-1")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", self.status_line)
        if m:
            self.version = m.group(1)
            self.status = int(m.group(2))
        for line in lines[1:]:
            if not line:
                continue
            self.header_lines.append(line)
            name, _, value = line.decode("latin-1").partition(":")
            self.headers.append((name.strip(), value.strip()))
        self.body = self.raw_body
        if (self.header("transfer-encoding") or "").lower() == "chunked":
            self.body = _dechunk(self.raw_body)

    def header_values(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def header(self, name):
        """The value of header NAME (case-insensitive), None when absent.

        Raises AssertionError if it appears more than once (a duplicated x-MD5
        is joined with a comma by the 3.x client and breaks the update, §4)."""
        values = self.header_values(name)
        if len(values) > 1:
            raise AssertionError(f"header {name} appears {len(values)} times: {values}")
        return values[0] if values else None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError(f"body is not JSON ({e}): {self.describe()}")

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def describe(self, body_limit=200):
        """A one-line summary for assertion messages."""
        if not self.raw:
            how = "reset" if self.reset else ("timed out" if self.timed_out else "closed")
            return f"<no response: connection {how} with 0 bytes>"
        hdrs = "; ".join(f"{n}: {v}" for n, v in self.headers)
        printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in self.body[:256])
        if self.body and printable < min(len(self.body), 256) * 0.9:
            return (f"{self.status_line!r} [{hdrs}] body({len(self.body)} bytes, md5 {md5_hex(self.body)}, "
                    f"starts {self.body[:8].hex()})")
        body = self.body[:body_limit]
        more = "..." if len(self.body) > body_limit else ""
        return f"{self.status_line!r} [{hdrs}] body({len(self.body)})={body!r}{more}"


def _dechunk(data):
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out)
        size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += data[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def _response_complete(buf, head_only):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    if head_only:
        return True
    resp = Response(bytes(buf), closed=False)
    if resp.status in (204, 304) or (resp.status or 0) < 200:
        return True
    cl = resp.header_values("content-length")
    if cl:
        return len(resp.raw_body) >= int(cl[0])
    if (resp.header("transfer-encoding") or "").lower() == "chunked":
        return resp.raw_body.endswith(b"0\r\n\r\n")
    return False


def exchange(port, data, *, timeout=IO_TIMEOUT_S, until="close", head_only=False, tls=None,
             server_name=None):
    """Sends DATA (bytes) to 127.0.0.1:PORT and reads the response.

    until="close": read until the server closes the connection (what an
    HTTP/1.0 + Connection: close client relies on); if TIMEOUT passes first,
    the Response has closed=False and timed_out=True, so tests can assert on
    it. until="response": stop as soon as a complete response is in (by
    Content-Length / chunked end; HEAD_ONLY: at the blank line).
    A send that fails because the server already answered and closed is not
    an error: whatever the server sent is still read.
    TLS: an ssl.SSLContext to speak HTTPS through (SERVER_NAME for SNI and
    the name checked); the handshake must succeed (ssl.SSLError otherwise)."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection((HOST, port), timeout=timeout)
    if tls is not None:
        try:
            s = tls.wrap_socket(s, server_hostname=server_name)
        except Exception:
            s.close()
            raise
    buf = bytearray()
    closed = reset = timed_out = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            s.settimeout(remaining)
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                timed_out = True
                break
            except ConnectionResetError:
                closed = reset = True
                break
            except ssl.SSLEOFError:  # a close without close_notify: a close all the same
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            if until == "response" and _response_complete(buf, head_only):
                break
    finally:
        s.close()
    return Response(bytes(buf), closed=closed, reset=reset, timed_out=timed_out)


def http_request(method, target, *, headers=(), body=b"", version="HTTP/1.1", host=None):
    """Builds request bytes: request line, Host, HEADERS (name, value) pairs in order,
    Content-Length when BODY is non-empty, Connection: close (unless given), blank line, BODY."""
    lines = [f"{method} {target} {version}"]
    names = {n.lower() for n, _ in headers}
    if host is not False:
        lines.append(f"Host: {host or HOST}")
    lines += [f"{n}: {v}" for n, v in headers]
    if body and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------------------
# The server


class CliResult:
    def __init__(self, args, proc):
        self.args = args
        self.code = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", errors="replace")
        self.stderr = proc.stderr.decode("utf-8", errors="replace")

    def describe(self):
        return (f"otad {' '.join(self.args)} -> exit {self.code}; stdout={_short(self.stdout.strip())!r}; "
                f"stderr={_short(self.stderr.strip())!r}")

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError(f"stdout is not JSON ({e}): {self.describe()}")


def run_otad(args, *, env=None, timeout=CLI_TIMEOUT_S, input=None):
    """Runs `otad ARGS...` with a clean environment plus ENV; returns a CliResult."""
    binary = otad_bin()
    if not os.access(binary, os.X_OK):
        raise AssertionError(f"otad binary not found or not executable: {binary}")
    proc = subprocess.run([binary] + list(args), env=clean_env(env), capture_output=True,
                          timeout=timeout, input=input)
    return CliResult(list(args), proc)


class Server:
    """One otad data dir and, while started, one `otad serve` process on it.

    Use as a context manager: the data dir is a fresh temp dir, removed at
    the end (unless $OTAD_E2E_KEEP is set); a running server is stopped with
    SIGTERM and must exit 0 (a clean shutdown is asserted on every test). The
    data dir exists before start(), so fixtures can be published with the CLI
    first."""

    def __init__(self, args=(), env=None, name="otad", prefix=(), sqlite=False):
        self.prefix = list(prefix)  # a command otad runs under, e.g. ["taskset", "-c", "0"]
        self.extra_args = list(args)
        self.env = dict(env or {})
        self.tmp = Path(tempfile.mkdtemp(prefix="otad-e2e-"))
        self.data_dir = self.tmp / "data"
        self.data_dir.mkdir()
        self.name = name
        self.database_name = self.database_url = None
        # SQLITE: a test of the single node's own story (its store the only copy of the blobs)
        # runs on SQLite in every stage.
        if BACKEND == "postgresql" and not sqlite:
            self.database_name, self.database_url = postgresql_new_database()
        self.proc = None
        self.port = None
        self.tls_port = None  # the HTTPS listener's, when started with --listen-tls
        self.starts = 0
        self._log_file = None

    # -- lifecycle

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc is not None:
                if exc_type is None:
                    self.stop()
                else:
                    self.kill()
        finally:
            if self.proc is not None:
                self.kill()
            for i in range(1, self.starts + 1):
                path = self.tmp / f"{self.name}-{i}.log"
                if path.exists():
                    LAST_SERVER_LOGS.append(f"[{self.name} start {i}]\n" + path.read_text(errors="replace"))
            if not os.environ.get("OTAD_E2E_KEEP"):
                shutil.rmtree(self.tmp, ignore_errors=True)
                if self.database_name and self.migrated():
                    postgresql_recycle(self.database_name, self.database_url)
                elif self.database_name:
                    postgresql_forget(self.database_url)
                    postgresql_exec(f"DROP DATABASE IF EXISTS {self.database_name} WITH (FORCE)")
        return False

    @property
    def log_path(self):
        return self.tmp / f"{self.name}-{self.starts}.log"

    def base_args(self):
        args = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database", self.database_url]
        return args

    def sql(self, query):
        """Rows of QUERY on this server's database, each a tuple of column texts (None for
        NULL on SQLite; '' on PostgreSQL): for tests that look under the API."""
        if self.database_url:
            return [tuple(r) for r in postgresql_exec(query, self.database_url)]
        import sqlite3
        db = sqlite3.connect(self.data_dir / "otad.db")
        try:
            with db:  # a write commits
                return [tuple(None if v is None else str(v) for v in row) for row in db.execute(query)]
        finally:
            db.close()

    def migrated(self):
        """Whether this PostgreSQL database holds otad's whole schema (a test may have left it
        otherwise): only such a one is emptied and used again."""
        try:
            rows = postgresql_exec("SELECT count(*) FROM schema_migrations", self.database_url)
            tables = postgresql_exec("SELECT count(*) FROM pg_tables WHERE tablename = 'meta'",
                                     self.database_url)
            return int(rows[0][0]) > 0 and int(tables[0][0]) == 1
        except AssertionError:
            return False

    def database_bytes(self):
        """Everything the database holds, as bytes: the SQLite file, or a PostgreSQL dump."""
        if self.database_url:
            return subprocess.run(["pg_dump", "--data-only", self.database_url], capture_output=True,
                                  check=True, timeout=120).stdout
        return (self.data_dir / "otad.db").read_bytes()

    def start(self, args=None, env=None):
        """Starts `[prefix] otad --data-dir D --listen 127.0.0.1:0 [args] serve` (the prefix
        must exec otad, so the process is otad's); waits for its port."""
        assert self.proc is None, "server already running"
        binary = otad_bin()
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"otad binary not found or not executable: {binary}")
        self.starts += 1
        argv = self.prefix + [binary] + self.base_args() + ["--listen", f"{HOST}:0"]
        argv += self.extra_args + list(args or []) + ["serve"]
        run_env = clean_env({**self.env, **(env or {})})
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, env=run_env)
        _live_servers.add(self)
        # The last --listen wins; "off" leaves only the HTTPS listener.
        listens = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--listen"]
        want_plain = not listens or listens[-1] != "off"
        want_tls = "--listen-tls" in argv
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            log = self.log_path.read_bytes()
            m = LISTENING_RE.search(log)
            t = LISTENING_TLS_RE.search(log)
            if (m or not want_plain) and (t or not want_tls):
                self.port = int(m.group(1)) if m else None
                self.tls_port = int(t.group(1)) if t else None
                return self
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                raise AssertionError(f"otad exited with {code} before listening: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"otad did not log 'listening on 127.0.0.1:PORT' within "
                                     f"{START_TIMEOUT_S:.0f}s: {self.log_tail()}")
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S, expect_code=0):
        """Sends SIG, waits up to TIMEOUT, asserts the exit code; returns the seconds it took."""
        assert self.proc is not None, "server not running"
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"otad did not exit within {timeout:.0f}s of {sig.name}: {self.log_tail()}")
        elapsed = time.monotonic() - t0
        self._reap()
        if expect_code is not None and code != expect_code:
            raise AssertionError(f"otad exited with {code} after {sig.name}, expected {expect_code}: "
                                 f"{self.log_tail()}")
        return elapsed

    def kill(self):
        """SIGKILL (no assertion); safe to call when not running."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def _reap(self):
        _live_servers.discard(self)
        self.proc = None
        self.port = None
        self.tls_port = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=8):
        tail = self.log().strip().splitlines()[-lines:]
        return "log: " + " | ".join(tail) if tail else "log: <empty>"

    # -- CLI on the same data dir

    def cli(self, *args, env=None, timeout=CLI_TIMEOUT_S, input=None):
        """Runs `otad --data-dir D ARGS...`; returns a CliResult (no assertion)."""
        return run_otad(self.base_args() + list(args), env={**self.env, **(env or {})},
                        timeout=timeout, input=input)

    def cli_ok(self, *args, **kw):
        r = self.cli(*args, **kw)
        assert r.code == 0, r.describe()
        return r

    def add_product(self, name, platform="esp8266", default_channel=None):
        args = ["product", "add", name, "--platform", platform]
        if default_channel:
            args += ["--default-channel", default_channel]
        return self.cli_ok(*args)

    def add_release(self, product, path, version, channel=None, mode=None, notes=None):
        args = ["release", "add", product, str(path), "--version", version]
        if channel:
            args += ["--channel", channel]
        if mode:
            args += ["--mode", mode]
        if notes is not None:
            args += ["--notes", notes]
        return self.cli_ok(*args)

    def token(self, scope="admin", name=None):
        """Creates a token with the CLI; asserts the stdout format; returns the token."""
        args = ["token", "create", "--scope", scope]
        if name:
            args += ["--name", name]
        r = self.cli_ok(*args)
        lines = r.stdout.splitlines()
        assert len(lines) == 1 and TOKEN_RE.match(lines[0]), \
            f"token create must print one line 'otad_' + 64 hex: {r.describe()}"
        return lines[0]

    # -- HTTP

    def send(self, data, **kw):
        """Raw bytes in, Response out (see exchange())."""
        assert self.port, "server not started"
        return exchange(self.port, data, **kw)

    def send_tls(self, data, tls, server_name="otad.test", **kw):
        """Raw bytes in over the HTTPS listener through TLS (an ssl.SSLContext), Response out."""
        assert self.tls_port, "server not started with --listen-tls"
        return exchange(self.tls_port, data, tls=tls, server_name=server_name, **kw)

    def get(self, target, headers=(), version="HTTP/1.1", **kw):
        return self.send(http_request("GET", target, headers=headers, version=version), **kw)

    def api(self, method, path, token=None, *, json_body=None, body=b"", headers=(), **kw):
        hdrs = list(headers)
        if token:
            hdrs.append(("Authorization", f"Bearer {token}"))
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.append(("Content-Type", "application/json"))
        return self.send(http_request(method, path, headers=hdrs, body=body), **kw)

    def url(self, path):
        return f"http://{HOST}:{self.port}{path}"

    def releases(self, product, token):
        r = self.api("GET", f"/api/v1/products/{product}/releases", token)
        assert r.status == 200, f"GET releases of {product}: {r.describe()}"
        return r.json()["releases"]

    def devices(self, product, token, query=""):
        r = self.api("GET", f"/api/v1/products/{product}/devices{query}", token)
        assert r.status == 200, f"GET devices of {product}: {r.describe()}"
        return r.json()

    def wait_release_visible(self, product, version, device_request, timeout=POLL_TIMEOUT_S):
        """Polls a check-in until it is offered VERSION (x-version); returns that response."""
        def offered():
            r = self.send(device_request)
            return r if r.status == 200 and r.header("x-version") == version else None
        return wait_until(offered, timeout, 0.1, f"{product} {version} to be offered")


# ---------------------------------------------------------------------------
# curl


class CurlResult:
    def __init__(self, code, status, headers_raw, body, stderr):
        self.code = code          # curl's exit status
        self.status = status      # HTTP status (0 when none was received)
        self.headers_raw = headers_raw
        self.body = body
        self.stderr = stderr

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError(f"curl body is not JSON ({e}): {self.describe()}")

    def header(self, name):
        """Header NAME of the last response head (curl -D may hold several, e.g. 100 Continue)."""
        heads = [h for h in self.headers_raw.split(b"\r\n\r\n") if h.strip()]
        if not heads:
            return None
        for line in heads[-1].split(b"\r\n")[1:]:
            n, _, v = line.decode("latin-1").partition(":")
            if n.strip().lower() == name.lower():
                return v.strip()
        return None

    def describe(self):
        return (f"curl exit {self.code}, HTTP {self.status}, body={_short(self.body.decode('utf-8', 'replace'))!r}, "
                f"stderr={_short(self.stderr.strip())!r}")


def curl(args, *, timeout=60, workdir=None):
    """Runs the real curl with ARGS plus -sS, -D and -o to temp files, -w for the status."""
    wd = Path(workdir or tempfile.mkdtemp(prefix="otad-e2e-curl-", dir=session_dir()))
    hdr, out = wd / "headers", wd / "body"
    argv = ["curl", "-sS", "--max-time", str(int(timeout)), "-D", str(hdr), "-o", str(out),
            "-w", "%{http_code}"] + list(args)
    proc = subprocess.run(argv, capture_output=True, timeout=timeout + 10)
    status_text = proc.stdout.decode().strip()
    status = int(status_text) if status_text.isdigit() else 0
    return CurlResult(proc.returncode, status, hdr.read_bytes() if hdr.exists() else b"",
                      out.read_bytes() if out.exists() else b"", proc.stderr.decode(errors="replace"))


def curl_publish(srv, product, path, token, *, version=None, channel=None, mode=None, notes=None,
                 multipart=False, extra=(), allow_secure_version_bump=None):
    """Publishes PATH with curl, as CI would: raw body, or multipart with a file field 'image'.
    ALLOW_SECURE_VERSION_BUMP (a string: "true", "1", ...) confirms a release that raises the
    product's anti-rollback secure_version (docs/SECURITY.md)."""
    url = srv.url(f"/api/v1/products/{product}/releases")
    args = []
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    if multipart:
        args += ["-F", f"image=@{path};type=application/octet-stream"]
        for key, value in (("version", version), ("channel", channel), ("mode", mode), ("notes", notes),
                           ("allow_secure_version_bump", allow_secure_version_bump)):
            if value is not None:
                args += ["-F", f"{key}={value}"]
    else:
        query = {k: v for k, v in (("version", version), ("channel", channel), ("mode", mode),
                                   ("notes", notes),
                                   ("allow_secure_version_bump", allow_secure_version_bump))
                 if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        args += ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{path}"]
    return curl(args + list(extra) + [url])


# ---------------------------------------------------------------------------
# Assertions shared by the test modules


def assert_status(resp, code, what=""):
    assert resp.status == code, f"{what + ': ' if what else ''}expected {code}, got {resp.describe()}"


def assert_not_modified(resp, what=""):
    """304, empty body, Content-Length absent or 0 (§3, §12.2)."""
    assert_status(resp, 304, what)
    assert resp.status_line.startswith("HTTP/1."), f"status line {resp.status_line!r}"
    cl = resp.header("content-length")
    assert cl in (None, "0"), f"304 with Content-Length {cl!r}"
    assert resp.body == b"", f"304 with a body: {resp.describe()}"


def assert_image(resp, data, version, what="", require_close=True):
    """A 200 a stock updater accepts (§3, §4, §12.3) carrying exactly DATA."""
    pre = f"{what}: " if what else ""
    assert_status(resp, 200, what)
    assert resp.status_line.startswith("HTTP/1."), f"{pre}status line {resp.status_line!r}"
    cls = resp.header_values("content-length")
    assert cls == [str(len(data))], f"{pre}Content-Length {cls}, image is {len(data)} bytes"
    te = resp.header("transfer-encoding")
    assert te is None, f"{pre}Transfer-Encoding {te!r} on an image"
    ce = resp.header("content-encoding")
    assert ce is None, f"{pre}Content-Encoding {ce!r} on an image"
    ctype = resp.header("content-type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/octet-stream", f"{pre}Content-Type {ctype!r}"
    md5s = resp.header_values("x-md5")
    assert md5s == [md5_hex(resp.raw_body)], \
        f"{pre}x-MD5 {md5s} must be one lowercase md5 of the body ({md5_hex(resp.raw_body)})"
    assert resp.header_values("x-version") == [version], \
        f"{pre}x-version {resp.header_values('x-version')}, expected {version!r}"
    assert len(resp.raw_body) == len(data), f"{pre}body is {len(resp.raw_body)} bytes, expected {len(data)}"
    assert resp.raw_body == data, f"{pre}body differs from the published image"
    if require_close:
        assert resp.closed, f"{pre}server did not close the connection after an HTTP/1.0 Connection: close response"


def assert_one_line_text(resp, what=""):
    pre = f"{what}: " if what else ""
    ctype = resp.header("content-type") or ""
    assert ctype.lower().startswith("text/plain"), f"{pre}Content-Type {ctype!r}, expected text/plain"
    text = resp.text.rstrip("\r\n")
    assert text and "\n" not in text, f"{pre}expected a one-line reason, got {resp.body!r}"


def assert_api_error(resp, status, code, what=""):
    """The API error shape: {"error":{"code":CODE,"message":"<one line>"}}."""
    assert_status(resp, status, what)
    err = resp.json().get("error")
    assert isinstance(err, dict), f"no error object: {resp.describe()}"
    assert err.get("code") == code, f"error code {err.get('code')!r}, expected {code!r}: {resp.describe()}"
    msg = err.get("message")
    assert isinstance(msg, str) and msg and "\n" not in msg, f"error message not one line: {msg!r}"
