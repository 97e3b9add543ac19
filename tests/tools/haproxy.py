"""A real HAProxy in front of otad nodes, for the end-to-end tests.

What it owns: writing an HAProxy configuration whose backend policy is
the one dist/haproxy/otad.cfg ships (its backend's directives are read from
that file: leastconn, GET /healthz checks expecting 200, retries on
connection failures and empty responses with redispatch), with its HTTP
frontend's directives (option forwardfor: otad's trusted_proxies reads the
header), test timeouts and health checks short enough for a test
(every 500 ms, down after 2 failures, up after 1 success), running `haproxy -f CFG -db` in the
foreground on a free port on 127.0.0.1, and reading its view of the nodes
through its admin socket (`show stat`). It does not start otad (tests/e2e/
harness.py does) and judges nothing: the tests do.

mode="http" balances HTTP (the devices' plain listener); mode="tcp" passes
connections through untouched (TLS passthrough to otad's HTTPS listener),
with each node's health checked over HTTP on its plain port.

Every instance is stopped when its `with` block ends, and at interpreter exit
as a backstop. Every wait has a bound. Python standard library only.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "dist" / "haproxy" / "otad.cfg"
EXAMPLE_BACKENDS = {"http": "otad", "tcp": "otad_tls"}  # its backend sections, per mode
HOST = "127.0.0.1"
BACKEND = "otad"           # the backend's name in the configuration and in `show stat`
START_TIMEOUT_S = 10.0     # HAProxy must accept connections within this
STOP_TIMEOUT_S = 5.0       # and exit within this of SIGUSR1 (soft stop) before it is killed
SOCKET_TIMEOUT_S = 5.0     # one admin-socket command
START_ATTEMPTS = 3         # a free port can be taken between choosing and binding it

_live = set()


def haproxy_bin():
    """The haproxy binary: $HAPROXY_BIN or `haproxy` on PATH (scripts/deps installs it)."""
    return os.environ.get("HAPROXY_BIN") or shutil.which("haproxy") or "/usr/sbin/haproxy"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _server_line(backend, mode, check):
    """`server NAME 127.0.0.1:PORT check [port CHECK_PORT]` for BACKEND: (name, port[, check_port])."""
    name, port = backend[0], backend[1]
    check_port = backend[2] if len(backend) > 2 else None
    if mode == "tcp" and check_port is None:
        raise ValueError(f"mode tcp needs each node's plain port for its health check: {backend!r}")
    line = f"    server {name} {HOST}:{port} {check}"
    if check_port is not None:
        line += f" port {check_port}"
    return line


def example_directives(section, path=EXAMPLE):
    """The directives of SECTION (e.g. "backend otad") in the example configuration, without
    its comments, `server` and `default-server` lines (addresses and check timing are the
    test's). A section that is commented out as a whole (the TLS passthrough) is read too."""
    lines = Path(path).read_text().splitlines()
    out = None
    for raw in lines:
        line = raw
        commented = line.startswith("#")
        if commented:
            line = line[1:]
            line = line[1:] if line.startswith(" ") else line
        if line and not line[0].isspace():          # a section header (or a comment at column 0)
            if out is not None:
                break
            if line.strip() == section:
                out = []
            continue
        if out is None:
            continue
        text = line.strip()
        if not text or text.startswith("#") or text.split()[0] in ("server", "default-server"):
            continue
        out.append(text)
    if not out:
        raise AssertionError(f"{path}: no directives in section {section!r}")
    return out


def config_text(backends, mode, port, admin_socket, check="check inter 500 fall 2 rise 1"):
    """The configuration for BACKENDS behind 127.0.0.1:PORT in MODE (see dist/haproxy/otad.cfg)."""
    if mode not in ("http", "tcp"):
        raise ValueError(f"mode must be http or tcp, not {mode!r}")
    lines = [
        "global",
        "    log stderr format short local0",
        f"    stats socket {admin_socket} mode 600 level admin",
        "    maxconn 4096",
        "",
        "defaults",
        "    log global",
        f"    mode {mode}",
        "    option httplog" if mode == "http" else "    option tcplog",
        "    option dontlognull",  # the readiness probe's empty connections
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout check 1s",
    ]
    if mode == "http":
        lines += ["    timeout http-request 10s", "    timeout http-keep-alive 5s"]
    lines += [
        "",
        "frontend devices",
        f"    bind {HOST}:{port}",
    ]
    if mode == "http":
        # The example's own frontend directives (option forwardfor), not its bind or backend.
        lines += ["    " + d for d in example_directives("frontend otad_http")
                  if d.split()[0] not in ("bind", "default_backend")]
    lines += [
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
    ]
    lines += ["    " + d for d in example_directives(f"backend {EXAMPLE_BACKENDS[mode]}")]
    lines += [_server_line(b, mode, check) for b in backends]
    return "\n".join(lines) + "\n"


def scratch_config(text):
    """Writes TEXT to a new temporary file (for `haproxy -c`); returns its Path."""
    fd, name = tempfile.mkstemp(prefix="otad-haproxy-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    atexit.register(lambda: Path(name).unlink(missing_ok=True))
    return Path(name)


def parse_show_stat(text, backend=BACKEND):
    """`show stat` CSV -> {server name: row} for BACKEND's servers (not its BACKEND row).

    A row maps every column to its value: an int where the value is one,
    the string otherwise ("status": "UP", "DOWN", "UP 1/2", "MAINT", ...)."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines or not lines[0].startswith("# "):
        raise AssertionError(f"show stat: no header line in {text[:200]!r}")
    columns = lines[0][2:].split(",")
    servers = {}
    for line in lines[1:]:
        values = line.split(",")
        row = {}
        for col, value in zip(columns, values):
            if col:
                row[col] = int(value) if value.isdigit() else value
        if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND"):
            servers[row["svname"]] = row
    return servers


class Haproxy:
    """One `haproxy -db` process in front of BACKENDS, a list of (name, port) for
    otad nodes on 127.0.0.1, or (name, port, check_port) where the health check
    goes to another port (mode "tcp": the node's plain listener). Started on
    construction; a context manager; .port is where clients connect."""

    def __init__(self, backends, mode="http", check="check inter 500 fall 2 rise 1"):
        if not backends:
            raise ValueError("no backends")
        self.backends = [tuple(b) for b in backends]
        self.mode = mode
        self.check = check
        self.tmp = Path(tempfile.mkdtemp(prefix="otad-haproxy-"))
        self.config_path = self.tmp / "haproxy.cfg"
        self.admin_socket = self.tmp / "admin.sock"
        self.log_path = self.tmp / "haproxy.log"
        self.proc = None
        self.port = None
        self._log_file = None
        _live.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    # -- lifecycle

    def _start(self):
        binary = haproxy_bin()
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"haproxy not found or not executable: {binary} (scripts/deps installs it)")
        last = ""
        for _ in range(START_ATTEMPTS):
            port = free_port()
            self.config_path.write_text(config_text(self.backends, self.mode, port, self.admin_socket,
                                                    self.check))
            self._log_file = open(self.log_path, "wb")
            self.proc = subprocess.Popen([binary, "-f", str(self.config_path), "-db"],
                                         stdin=subprocess.DEVNULL, stdout=self._log_file,
                                         stderr=subprocess.STDOUT)
            if self._wait_accepting(port):
                self.port = port
                return
            last = self.log_tail()
            self._kill()
            if "cannot bind" not in last and "Address already in use" not in last:
                break
        raise AssertionError(f"haproxy did not accept connections within {START_TIMEOUT_S:.0f}s: {last}")

    def _wait_accepting(self, port):
        """True once 127.0.0.1:PORT accepts and the admin socket answers; False if haproxy exits first."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                self.command("show info")
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self):
        """Soft stop (SIGUSR1: stop listening, let connections end), kill after STOP_TIMEOUT_S.
        Returns haproxy's exit status (None when it was not running). Safe to call twice."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            try:
                code = self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        _live.discard(self)
        if self.tmp is not None and not os.environ.get("OTAD_E2E_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        return code

    def _kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    pass
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.port = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    def log_tail(self, lines=8):
        tail = self.log().strip().splitlines()[-lines:]
        return "haproxy log: " + " | ".join(tail) if tail else "haproxy log: <empty>"

    # -- the admin socket

    def command(self, text):
        """Sends one admin-socket command (e.g. "show stat", "set server otad/node1 state drain");
        returns the answer. Raises OSError when the socket does not answer in time."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(SOCKET_TIMEOUT_S)
            s.connect(str(self.admin_socket))
            s.sendall(text.encode() + b"\n")
            out = bytearray()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        return out.decode(errors="replace")

    def stats(self):
        """{server name: `show stat` row} for the backend's servers: "status" ("UP", "DOWN",
        "UP 1/2" while going down, ...), "check_status", and the counts as ints: "scur"
        (connections now), "stot" (in all), "chkfail", "chkdown", "wretr" (retries),
        "wredis" (redispatches), "hrsp_2xx" ... (responses by class, mode http)."""
        return parse_show_stat(self.command("show stat"))

    def state(self, server):
        row = self.stats().get(server)
        if row is None:
            raise AssertionError(f"haproxy has no server {server!r} in backend {BACKEND}")
        return row["status"]

    def wait_state(self, server, state, timeout=5.0):
        """Waits until SERVER's status is exactly STATE ("UP" or "DOWN": not "UP 1/2");
        returns the seconds it took. AssertionError with the last status after TIMEOUT."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            last = self.state(server)
            if last == state:
                return time.monotonic() - t0
            if time.monotonic() >= deadline:
                raise AssertionError(f"haproxy: {server} still {last!r} after {timeout:.1f}s, expected {state}; "
                                     f"{self.log_tail()}")
            time.sleep(0.05)


def cleanup_all():
    """Stops every Haproxy still running. Returns how many there were."""
    leftovers = list(_live)
    for hp in leftovers:
        hp.stop()
    return len(leftovers)


atexit.register(cleanup_all)
