"""systemd integration (docs/OPERATIONS.md, "Under systemd"): a real `otad serve` with a Python
AF_UNIX datagram socket as NOTIFY_SOCKET (READY=1 only once /healthz answers, STATUS= with
check-ins per second and the active rollouts, WATCHDOG=1 at half WATCHDOG_USEC that stops when
the serving loop is stalled, RELOADING=1/READY=1 around SIGHUP with log_level live, STOPPING=1),
socket activation through a small exec wrapper that puts a bound socket at fd 3, the native
journal protocol to a fake journal socket when JOURNAL_STREAM names stderr, and the hardened
unit's `systemd-analyze` checks."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import devices
from devices import Device, idf_update
from harness import (HOST, REPO, Server, assert_image, clean_env, curl_publish, make_image,
                     otad_bin, wait_until)
from test_idf_checkin import app_for, idf_image, update_path

# systemd-analyze security's overall exposure the rendered unit must stay at or below (0 is
# best, 10 worst); dist/README.md states the figure it has now.
EXPOSURE_MAX = 2.0


class NotifySocket:
    """An abstract AF_UNIX datagram socket as NOTIFY_SOCKET: every datagram with its arrival time."""

    def __init__(self):
        self.name = f"otad-e2e-notify-{os.getpid()}-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic seconds, text)
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def env(self):
        return {"NOTIFY_SOCKET": "@" + self.name}

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode()))

    def all(self):
        with self.lock:
            return list(self.messages)

    def with_line(self, line):
        """The (time, text) messages that hold LINE as one of their lines."""
        return [(t, m) for t, m in self.all() if line in m.split("\n")]

    def starting(self, prefix):
        return [(t, m) for t, m in self.all() if any(x.startswith(prefix) for x in m.split("\n"))]

    def wait(self, line, timeout=10, after=0.0):
        """Waits for a message with LINE arriving after monotonic AFTER; returns its time."""
        def seen():
            got = [t for t, _ in self.with_line(line) if t > after]
            return got[0] if got else None
        return wait_until(seen, timeout, 0.02, f"{line} on NOTIFY_SOCKET (got {self.all()[-6:]})")

    def close(self):
        self.done = True
        self.thread.join(timeout=2)
        self.sock.close()


def healthz_ok(srv):
    return srv.get("/healthz").status == 200


def test_ready_only_once_healthz_answers_then_status_and_stopping():
    note = NotifySocket()
    try:
        with Server() as srv:
            srv.start(env=note.env)
            t_ready = note.wait("READY=1")
            assert healthz_ok(srv), "READY=1 came, so /healthz answers"
            assert "systemd: ready (the server answered its own /healthz)" in srv.log(), srv.log_tail()
            status = [m for _, m in note.starting("STATUS=")]
            assert status and "check-ins/s" in status[0] and "no active rollouts" in status[0], status
            assert not note.with_line("WATCHDOG=1"), "no WATCHDOG_USEC: no pings"
            t_stop = time.monotonic()
            srv.stop()
            note.wait("STOPPING=1", timeout=2, after=t_stop)
            assert len(note.with_line("READY=1")) == 1 and t_ready < t_stop
    finally:
        note.close()


def test_no_ready_while_the_serving_loop_never_answers():
    """The stall from the first request on: the listener is bound, but no worker answers, so
    READY=1 is never sent (systemd would time the start out)."""
    note = NotifySocket()
    try:
        with Server() as srv:
            srv.start(env={**note.env, "OTAD_TEST_STALL_SERVING_AFTER_MS": "0"})
            time.sleep(2.5)
            assert not note.with_line("READY=1"), f"READY=1 without an answer: {note.all()}"
            srv.stop()
            assert note.with_line("STOPPING=1"), note.all()
    finally:
        note.close()


def test_nothing_without_notify_socket():
    with Server() as srv:
        srv.start()
        assert healthz_ok(srv)
        time.sleep(0.3)
        srv.stop()
        assert "systemd:" not in srv.log(), srv.log_tail()


def test_status_has_checkins_per_second_and_rollouts():
    note = NotifySocket()
    try:
        with Server() as srv:
            srv.add_product("door", "esp8266")
            srv.add_release("door", make_image("esp8266", 64_000, seed=401, flash_size="4M"), "1.0.0")
            srv.cli_ok("channel", "set", "door", "stable", "--deploy", "manual")
            srv.add_release("door", make_image("esp8266", 64_000, seed=402, flash_size="4M"), "1.1.0")
            srv.cli_ok("rollout", "start", "door", "1.1.0", "--stages", "1,10,100", "--soak", "30m",
                       "--ramp", "0")
            srv.start(env=note.env)
            t_ready = note.wait("READY=1")
            deadline = time.monotonic() + 4
            sent = 0
            while time.monotonic() < deadline:  # a few check-ins a second, bounded
                mac = "18:FE:34:01:%02X:%02X" % (sent // 256, sent % 256)
                r = srv.send(devices.esp8266("/update/door", srv.port, Device(sta_mac=mac, version="1.0.0")))
                assert r.status in (200, 304), r.describe()
                sent += 1
                time.sleep(0.05)

            def busy():
                for t, m in note.starting("STATUS="):
                    rate = re.search(r"STATUS=([0-9.]+) check-ins/s", m)
                    if t > t_ready and rate and float(rate.group(1)) > 1.0:
                        return m
                return None
            text = wait_until(busy, 5, 0.1, f"a STATUS= with check-ins/s ({note.all()[-4:]})")
            assert "1 active rollout: door@1.1.0 stage 1/3 running" in text, text
            srv.stop()
    finally:
        note.close()


def test_watchdog_pings_at_half_the_interval_and_stop_when_the_serving_loop_stalls():
    note = NotifySocket()
    try:
        with Server() as srv:
            env = {**note.env, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": ""}
            srv.start(env=env)
            t0 = note.wait("READY=1")
            time.sleep(3.2)
            pings = [t for t, _ in note.with_line("WATCHDOG=1") if t >= t0]
            assert 5 <= len(pings) <= 9, f"1 s watchdog: a ping every 0.5 s, got {len(pings)} in 3.2 s"
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            assert max(gaps) < 0.8, f"gaps between pings: {gaps}"
            srv.stop()

        note.messages.clear()
        with Server() as srv:
            srv.start(env={**note.env, "WATCHDOG_USEC": "1000000",
                           "OTAD_TEST_STALL_SERVING_AFTER_MS": "2000"})
            t0 = note.wait("READY=1")
            time.sleep(4.5)
            pings = [t for t, _ in note.with_line("WATCHDOG=1")]
            assert pings and pings[0] - t0 < 0.3, f"pings start with readiness: {pings}"
            assert len(pings) >= 3, f"pings before the stall: {pings}"
            last = pings[-1]
            assert last - t0 < 2.6, f"a ping {last - t0:.2f} s after READY, past the 2 s stall"
            assert time.monotonic() - last > 1.9, "no ping for the watchdog's whole interval"
            assert "not feeding the watchdog" in srv.log(), srv.log_tail()
            t_stop = time.monotonic()
            srv.stop()
            note.wait("STOPPING=1", timeout=2, after=t_stop)
    finally:
        note.close()


def test_watchdog_fed_while_the_database_blocks_but_devices_are_answered():
    """The status line's rollouts come from the serving catalog: with PostgreSQL's products
    table locked (a migration, a long transaction; PostgreSQL's statement timeout is as long
    as WatchdogSec) the server still answers /healthz and check-ins, and the supervisor thread
    must keep feeding the watchdog instead of waiting on a status query. Runs in the e2e-pg
    stage (on SQLite in WAL mode no lock blocks the reads the status needs)."""
    note = NotifySocket()
    try:
        with Server() as srv:
            if not srv.database_url:
                print("SQLite stage: the database lock is PostgreSQL's, in the e2e-pg stage")
                return
            srv.add_product("door", "esp8266")
            srv.start(env={**note.env, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": ""})
            note.wait("READY=1")
            import psycopg2
            lock = psycopg2.connect(srv.database_url)
            try:
                cur = lock.cursor()
                cur.execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
                t0 = time.monotonic()
                time.sleep(4.5)  # a status line every 3 s: at least one meets the lock
                assert healthz_ok(srv), "the server answers while the table is locked"
                pings = [t for t, _ in note.with_line("WATCHDOG=1") if t > t0]
                gaps = [b - a for a, b in zip([t0] + pings, pings + [time.monotonic()])]
                assert max(gaps) < 0.9, f"the watchdog starved behind the lock: gaps {gaps}"
            finally:
                lock.rollback()
                lock.close()
    finally:
        note.close()


def test_watchdog_starves_while_a_real_database_lock_holds_the_only_worker():
    """A real stall, no test hook: one worker thread (--threads 1), another process holds
    SQLite's write lock, and an API write waits in the worker for it (busy_timeout). The
    server's own /healthz probe cannot be answered meanwhile, so the pings stop; once the lock
    is released the request finishes and the pings come back."""
    import sqlite3
    note = NotifySocket()
    try:
        with Server(sqlite=True) as srv:
            token = srv.token("admin")
            srv.start(args=["--threads", "1"], env={**note.env, "WATCHDOG_USEC": "2000000"})
            note.wait("READY=1")
            note.wait("WATCHDOG=1")
            db = sqlite3.connect(srv.data_dir / "otad.db", timeout=5, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")  # the write lock, held by another process than otad
            result = {}

            def write():
                result["r"] = srv.api("POST", "/api/v1/products", token,
                                      json_body={"name": "stalled", "platform": "esp8266"},
                                      timeout=30)
            writer = threading.Thread(target=write)
            t_lock = time.monotonic()
            writer.start()
            time.sleep(4.0)
            during = [t for t, _ in note.with_line("WATCHDOG=1") if t > t_lock + 1.2]
            db.execute("COMMIT")
            db.close()
            t_free = time.monotonic()
            writer.join(timeout=30)
            assert not during, f"pings while the only worker waited on the lock: {during}"
            assert "not feeding the watchdog" in srv.log(), srv.log_tail()
            assert result["r"].status == 201, result["r"].describe()
            note.wait("WATCHDOG=1", timeout=3, after=t_free)
            wait_until(lambda: "answers /healthz again" in srv.log(), what="the recovery line")
            srv.stop()
    finally:
        note.close()


def test_watchdog_for_another_pid_is_not_ours():
    note = NotifySocket()
    try:
        with Server() as srv:
            srv.start(env={**note.env, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
            note.wait("READY=1")
            time.sleep(1.2)
            assert not note.with_line("WATCHDOG=1"), note.all()
            srv.stop()
    finally:
        note.close()


def test_sighup_reloading_ready_and_log_level_live():
    note = NotifySocket()
    try:
        with Server() as srv:
            ini = srv.tmp / "otad.ini"
            ini.write_text("[otad]\nlog_level = info\nmax_connections = 1000\n")
            srv.start(args=["--config", str(ini)], env=note.env)
            note.wait("READY=1")

            def reload(text):
                ini.write_text(text)
                t = time.monotonic()
                srv.proc.send_signal(signal.SIGHUP)
                t_ready = note.wait("READY=1", after=t)
                reloading = [(u, m) for u, m in note.with_line("RELOADING=1") if u > t]
                assert reloading and reloading[0][0] <= t_ready, note.all()[-4:]
                assert re.search(r"^MONOTONIC_USEC=\d+$", reloading[0][1], re.M), reloading
                return t_ready

            # A setting that needs a restart is named as such; the log level stays.
            reload("[otad]\nlog_level = info\nmax_connections = 77\n")
            wait_until(lambda: "reload: max_connections changed, but takes effect only after a "
                       "restart" in srv.log(), what="the restart warning")
            assert srv.log().count("reload: no HTTPS listener, no certificates to reload") == 1
            ready = [m for _, m in note.with_line("READY=1")][-1]
            assert "STATUS=reloaded; some changed settings take effect only after a restart" in ready

            # log_level is live: after error, an info line is no longer written.
            reload("[otad]\nlog_level = error\nmax_connections = 1000\n")
            wait_until(lambda: "reload: log_level is now error (was info)" in srv.log(),
                       what="the log level change")
            reload("[otad]\nlog_level = error\nmax_connections = 1000\n")
            time.sleep(0.2)
            log = srv.log()
            assert log.count("reload: no HTTPS listener, no certificates to reload") == 1, log
            assert "log_level is now" not in log.split("log_level is now error")[1], log

            # And back: info lines again.
            reload("[otad]\nlog_level = info\n")
            wait_until(lambda: srv.log().count("reload: no HTTPS listener, no certificates") == 2,
                       what="info lines after log_level = info")
            assert "reload: log_level is now info (was error)" in srv.log()

            # A file that no longer loads: the running settings stay, READY=1 says so.
            reload("[otad]\nlog_level = loud\n")
            ready = [m for _, m in note.with_line("READY=1")][-1]
            assert "reload failed" in ready, ready
            assert "the running settings stay" in srv.log()
            srv.stop()
    finally:
        note.close()


# The exec wrapper a service manager would be: the passed socket at fd 3, LISTEN_PID its own pid
# (the exec keeps it), LISTEN_FDS=1, then otad in its place.
WRAPPER = ("import os, sys\n"
           "os.dup2(int(sys.argv[1]), 3)\n"
           "os.environ['LISTEN_FDS'] = '1'\n"
           "os.environ['LISTEN_PID'] = str(os.getpid())\n"
           "os.environ['LISTEN_FDNAMES'] = sys.argv[2]\n"
           "os.execv(sys.argv[3], sys.argv[3:])\n")


def test_socket_activation_serves_the_passed_socket():
    with Server() as srv:
        data = make_image("esp8266", 64_000, seed=411, flash_size="4M")
        srv.add_product("door", "esp8266")
        srv.add_release("door", data, "2.0.0")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((HOST, 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        log_path = srv.tmp / "activated.log"
        argv = [sys.executable, "-c", WRAPPER, str(listener.fileno()), "http", otad_bin(),
                *srv.base_args(), "--listen", "off", "serve"]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    pass_fds=[listener.fileno()], env=clean_env())
        try:
            listener.close()  # otad holds it now
            wait_until(lambda: b"listening on a socket from the service manager" in log_path.read_bytes()
                       or proc.poll() is not None, what="otad on the passed socket")
            text = log_path.read_text()
            assert proc.poll() is None, text
            assert f"port {port}" in text and "serves descriptor 3" in text, text
            srv.port = port
            resp = srv.send(devices.esp8266("/update/door", port, Device(version="1.0.0")))
            assert_image(resp, data.read_bytes(), "2.0.0", "a check-in on the activated socket")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            srv.port = None


def test_socket_activation_refuses_a_descriptor_that_is_no_listening_socket():
    """fd 3 a pipe's end: otad says which descriptor is wrong and exits 1, binding nothing."""
    with Server() as srv:
        r_end, w_end = os.pipe()
        try:
            proc = subprocess.run([sys.executable, "-c", WRAPPER, str(r_end), "", otad_bin(),
                                   *srv.base_args(), "--listen", f"{HOST}:0", "serve"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  pass_fds=[r_end], env=clean_env(), timeout=30)
        finally:
            os.close(r_end)
            os.close(w_end)
        assert proc.returncode == 1, proc.stderr
        assert "descriptor 3 for the plain listener is not a listening stream socket" in proc.stderr, \
            proc.stderr
        assert "listening on" not in proc.stderr, proc.stderr


def test_socket_activation_for_another_pid_is_ignored():
    """LISTEN_PID of another process: the variables were not for otad, which binds as usual."""
    with Server() as srv:
        srv.start(env={"LISTEN_FDS": "1", "LISTEN_PID": "1"})
        assert healthz_ok(srv)
        assert "socket activation" not in srv.log()
        srv.stop()


def parse_journal(data):
    """The fields of one native journal datagram: {KEY: [values]}."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        eq = data.find(b"=", i, nl)
        if eq >= 0:
            key, value, i = data[i:eq], data[eq + 1:nl], nl + 1
        else:
            key = data[i:nl]
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + n]
            assert data[nl + 9 + n:nl + 10 + n] == b"\n", data
            i = nl + 10 + n
        fields.setdefault(key.decode(), []).append(value.decode())
    return fields


def test_journal_entries_with_fields_when_stderr_is_the_journal():
    with Server() as srv:
        srv.add_product("idf", "esp32")
        for version, kw in (("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2})):
            path, _, elf = idf_image(version, **kw)
            srv.add_release("idf", path, version)
            if version == "1.0.0":
                old_elf = elf
        journal_path = Path(tempfile.mkdtemp(prefix="otad-journal-")) / "socket"
        journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        journal.bind(str(journal_path))
        journal.settimeout(0.2)
        stderr_path = srv.tmp / "stderr.log"
        stderr_path.write_bytes(b"")
        st = os.stat(stderr_path)
        env = clean_env({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",
                         "OTAD_TEST_JOURNAL_SOCKET": str(journal_path)})
        entries = []
        token = srv.token("publish")

        def drain():
            while True:
                try:
                    entries.append(parse_journal(journal.recv(65536)))
                except socket.timeout:
                    return entries
        with open(stderr_path, "ab") as err:
            proc = subprocess.Popen([otad_bin(), *srv.base_args(), "--listen", f"{HOST}:0", "serve"],
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
        try:
            def listening():
                drain()
                for e in entries:
                    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", e.get("MESSAGE", [""])[0])
                    if m:
                        return int(m.group(1))
                assert proc.poll() is None, stderr_path.read_text()
                return None
            port = wait_until(listening, what="the listening line in the journal")
            line = next(e for e in entries if e["MESSAGE"][0].startswith("listening on"))
            assert line["PRIORITY"] == ["6"] and line["SYSLOG_IDENTIFIER"] == ["otad"], line
            assert line["CODE_FILE"] == ["src/cli/serve.c"] and line["CODE_FUNC"] == ["announce"], line
            assert int(line["CODE_LINE"][0]) > 0, line

            # A delivery issue: an ESP32-C3 offered an ESP32-S3 build. Its line names the product,
            # the device's MAC and the release, as fields.
            done = idf_update(port, update_path(), app_for(old_elf, version="1.0.0", chip="esp32c3"))
            assert done.status == 403, done

            def issue():
                drain()
                return next((e for e in entries if "OTAD_DEVICE_MAC" in e), None)
            e = wait_until(issue, what="the delivery issue's journal entry")
            assert e["PRIORITY"] == ["4"], e
            assert e["OTAD_PRODUCT"] == ["idf"], e
            assert e["OTAD_DEVICE_MAC"] == ["24:0A:C4:00:00:01"], e
            assert e["OTAD_RELEASE"] == ["1.1.0"], e
            assert "wrong_chip" in e["MESSAGE"][0] and "24:0A:C4:00:00:01" in e["MESSAGE"][0], e
            assert e["CODE_FILE"] == ["src/service/checkin.c"], e

            # A publish through the API while serving: product and release as fields.
            srv.port = port
            r = curl_publish(srv, "idf", idf_image("1.2.0", seed=3)[0], token, version="1.2.0")
            assert r.code == 0 and r.status in (200, 201), r.describe()

            def published():
                drain()
                return next((e for e in entries if e.get("MESSAGE", [""])[0].startswith("published idf")), None)
            pub = wait_until(published, what="the publish line in the journal")
            assert pub["OTAD_PRODUCT"] == ["idf"] and pub["OTAD_RELEASE"] == ["1.2.0"], pub
            assert "OTAD_DEVICE_MAC" not in pub, pub

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            drain()
            assert any(e["MESSAGE"] == ["stopped"] for e in entries)
            assert stderr_path.read_text() == "", "every line went to the journal, none to stderr"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            journal.close()
            shutil.rmtree(journal_path.parent, ignore_errors=True)
            srv.port = None


def test_plain_lines_when_journal_stream_names_another_file():
    """JOURNAL_STREAM that is not stderr's (a shell started from a unit, say): plain lines."""
    with Server() as srv:
        srv.start(env={"JOURNAL_STREAM": "1:1", "OTAD_TEST_JOURNAL_SOCKET": "/nonexistent"})
        assert re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+Z info listening on 127\.0\.0\.1:\d+ ", srv.log(), re.M), \
            srv.log_tail()
        srv.stop()


def test_journal_socket_gone_falls_back_to_stderr():
    with Server() as srv:
        stderr_log = srv.tmp / "otad-1.log"  # the harness's log of the first start
        stderr_log.write_bytes(b"")
        st = os.stat(stderr_log)
        srv.start(env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",
                       "OTAD_TEST_JOURNAL_SOCKET": str(srv.tmp / "no-journal-here")})
        log = srv.log()
        assert "the journal's socket does not answer" in log and "listening on 127.0.0.1:" in log, log
        srv.stop()


def rendered_unit(tmp):
    """dist/otad.service.in with /usr/bin and /etc filled in, as meson install writes it."""
    text = (REPO / "dist" / "otad.service.in").read_text()
    text = text.replace("@bindir@", "/usr/bin").replace("@sysconfdir@", "/etc")
    assert not re.search(r"@[a-z]+@", text), "a placeholder left unfilled"
    path = Path(tmp) / "otad.service"
    path.write_text(text)
    shutil.copy(REPO / "dist" / "otad.socket", Path(tmp) / "otad.socket")
    return path


def test_unit_is_hardened_and_verifies():
    """systemd-analyze (present here; skipped where it is not) verifies the units and scores the
    service's exposure at or below EXPOSURE_MAX."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("skip: no systemd-analyze on this machine")
        return
    with tempfile.TemporaryDirectory() as tmp:
        unit = rendered_unit(tmp)
        text = unit.read_text()
        for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "ProtectSystem=strict",
                     "CapabilityBoundingSet=", "SystemCallFilter=@system-service",
                     "MemoryDenyWriteExecute=yes", "StateDirectory=otad"):
            assert re.search(rf"^{re.escape(line)}\s*$", text, re.M), f"{line} missing"
        sec = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit)],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for otad\.service: ([0-9.]+)", sec.stdout + sec.stderr)
        assert m, sec.stdout[-2000:] + sec.stderr[-2000:]
        assert float(m.group(1)) <= EXPOSURE_MAX, f"exposure {m.group(1)} > {EXPOSURE_MAX}:\n{sec.stdout}"
        # verify reads the binary's path from ExecStart: point it at the built one.
        verify_dir = Path(tmp) / "verify"
        verify_dir.mkdir()
        (verify_dir / "otad.service").write_text(text.replace("/usr/bin/otad", str(otad_bin())))
        shutil.copy(REPO / "dist" / "otad.socket", verify_dir / "otad.socket")
        ver = subprocess.run([analyze, "verify", "--man=no", str(verify_dir / "otad.service"),
                              str(verify_dir / "otad.socket")],
                             capture_output=True, text=True, timeout=60)
        complaints = [l for l in (ver.stdout + ver.stderr).splitlines()
                      if "otad" in l and "Failed to" not in l or "Unknown" in l or "syntax" in l]
        assert ver.returncode == 0 and not complaints, ver.stdout + ver.stderr
