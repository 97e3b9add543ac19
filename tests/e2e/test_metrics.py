"""GET /metrics (docs/METRICS.md) after real traffic: stock ESP8266 check-ins
(devices.py) answered 200, 304 (over the download cap), 404 and 400, one
whole download, one /images/ download; the scrape must pass `promtool check
metrics` (Debian's prometheus package) and every counter must have moved
exactly as the traffic says. Also: metrics_token enforced, and the shipped
alert rules accepted by `promtool check rules`."""

import json
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request

import devices
from harness import REPO, Server, assert_status, wait_until
from test_fleet import IMAGE, SlowReader, device, publish, start_rollout_channel

PROMTOOL_TIMEOUT_S = 30

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's prometheus package (scripts/deps)"
    return path


def parse(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    """The sum of NAME's samples whose labels include LABELS (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def scrape(srv, token=None):
    headers = [("Authorization", f"Bearer {token}")] if token else []
    resp = srv.get("/metrics", headers=headers)
    assert_status(resp, 200, "GET /metrics")
    assert resp.header("Content-Type").startswith("text/plain; version=0.0.4"), resp.describe()
    return resp.text


def test_counters_follow_traffic_and_promtool_accepts_the_scrape():
    with Server(args=["--metrics-token", "none"]) as srv:
        srv.add_product("demo")
        publish(srv, "1.0.0", 1)
        srv.cli_ok("product", "fleet", "demo", "--download-cap", "1")
        publish(srv, "1.1.0", 2)
        srv.start()
        before = parse(scrape(srv))
        assert value(before, "otad_checkins_total") == 0
        assert value(before, "otad_catalog_rebuilds_total") >= 1

        held = SlowReader(srv.port, devices.esp8266("/update/demo", srv.port, device(1)))
        assert held.status == 200, held.head
        refused = srv.send(devices.esp8266("/update/demo", srv.port, device(2)))
        assert_status(refused, 304, "a check-in over the download cap")
        mid = parse(scrape(srv))
        assert value(mid, "otad_downloads_in_flight") == 1
        assert held.read_all() == IMAGE
        held.close()
        assert_status(srv.send(devices.esp8266("/update/nosuch", srv.port, device(3))), 404, "unknown product")
        bad = device(4).but(sta_mac="not-a-mac")
        assert_status(srv.send(devices.esp8266("/update/demo", srv.port, bad)), 400, "malformed STA MAC")
        image = srv.get("/images/demo/1.1.0", timeout=30)
        assert_status(image, 200, "GET /images/demo/1.1.0")
        assert len(image.body) == IMAGE

        # The flusher commits within registry_flush_ms; in flight drops once on_completed ran.
        def settled():
            s = parse(scrape(srv))
            done = (value(s, "otad_registry_flush_duration_seconds_count") >= 1
                    and value(s, "otad_downloads_in_flight") == 0)
            return s if done else None
        s = wait_until(settled, what="the registry's commit and the downloads' end in /metrics")

        assert value(s, "otad_checkins_total", product="demo", status="200") == 1
        assert value(s, "otad_checkins_total", product="demo", status="304") == 1
        assert value(s, "otad_checkins_total", product="", channel="", status="404") == 1
        assert value(s, "otad_checkins_total", product="demo", status="400") == 1
        assert value(s, "otad_checkins_total") == 4
        channels = {dict(ls)["channel"] for (n, ls) in s if n == "otad_checkins_total" and dict(ls)["product"] == "demo"
                    and dict(ls)["status"] in ("200", "304")}
        assert len(channels) == 1 and "" not in channels, f"one channel for demo's decisions: {channels}"
        assert value(s, "otad_downloads_refused_total", product="demo") == 1
        assert value(s, "otad_images_served_total", product="demo") == 2
        assert value(s, "otad_image_bytes_sent_total") == 2 * IMAGE
        assert value(s, "otad_registry_records_dropped_total") == 0
        assert value(s, "otad_metrics_series_dropped_total") == 0
        assert ("otad_notify_events_dropped_total", frozenset()) in s
        assert value(s, "otad_notify_events_dropped_total") == 0
        # The device requests, one per answer, each measured once; /metrics itself too.
        for status in ("200", "304", "404", "400"):
            assert value(s, "otad_http_request_duration_seconds_count", route="checkin", status=status) == 1, status
        assert value(s, "otad_http_request_duration_seconds_count", route="image", status="200") == 1
        assert value(s, "otad_http_request_duration_seconds_count", route="metrics", status="200") >= 2
        assert value(s, "process_open_fds") > 0
        assert value(s, "process_resident_memory_bytes") > 1_000_000
        assert value(s, "process_start_time_seconds") > 1_600_000_000

        text = scrape(srv)
        check = subprocess.run([promtool(), "check", "metrics"], input=text.encode(), capture_output=True,
                               timeout=PROMTOOL_TIMEOUT_S)
        assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), (
            f"promtool check metrics: rc {check.returncode}\n{check.stdout.decode()}{check.stderr.decode()}")


def test_rollout_state_and_outcomes_per_stage():
    """An active rollout's state, stage and devices by outcome are in /metrics, read at scrape
    time: a cut body and a whole one move the stage's counts; a pause moves the state; the
    rollout leaves the exposition when it ends."""
    with Server(args=["--metrics-token", "none"]) as srv:
        srv.add_product("demo")
        publish(srv, "1.0.0", 1)
        start_rollout_channel(srv, "--stages", "100", "--ramp", "0")
        publish(srv, "1.1.0", 2)
        rid = str(srv.cli_ok("rollout", "list", "demo", "--json").json()["rollouts"][0]["id"])
        srv.start()
        s = parse(scrape(srv))
        assert value(s, "otad_rollout_state", rollout=rid, state="running") == 1
        assert value(s, "otad_rollout_state", rollout=rid, state="paused") == 0
        assert value(s, "otad_rollout_stage", product="demo", channel="stable", rollout=rid) == 1
        assert value(s, "otad_rollout_devices", rollout=rid) == 0

        cut = SlowReader(srv.port, devices.esp8266("/update/demo", srv.port, device(1)))
        assert cut.status == 200, cut.head
        cut.close(reset=True)
        whole = SlowReader(srv.port, devices.esp8266("/update/demo", srv.port, device(2)))
        assert whole.status == 200, whole.head
        assert whole.read_all() == IMAGE
        whole.close()

        def counted():
            s = parse(scrape(srv))
            done = (value(s, "otad_rollout_devices", rollout=rid, stage="1", outcome="interrupted") == 1
                    and value(s, "otad_rollout_devices", rollout=rid, stage="1", outcome="served") == 1)
            return s if done else None
        s = wait_until(counted, what="one interrupted and one served device in stage 1's metrics")
        assert value(s, "otad_rollout_interruptions_total", rollout=rid, stage="1") == 1
        assert value(s, "otad_rollout_devices", rollout=rid, outcome="failed") == 0

        srv.cli_ok("rollout", "pause", "demo", rid)
        s = parse(scrape(srv))
        assert value(s, "otad_rollout_state", rollout=rid, state="paused") == 1
        assert value(s, "otad_rollout_state", rollout=rid, state="running") == 0
        check = subprocess.run([promtool(), "check", "metrics"], input=scrape(srv).encode(),
                               capture_output=True, timeout=PROMTOOL_TIMEOUT_S)
        assert check.returncode == 0, f"{check.stdout.decode()}{check.stderr.decode()}"

        srv.cli_ok("rollout", "abort", "demo", rid)
        s = parse(scrape(srv))
        assert not [k for k in s if k[0].startswith("otad_rollout_") and ("rollout", rid) in k[1]], \
            "an aborted rollout leaves the exposition"


def test_metrics_token_is_enforced():
    with Server() as srv:  # the default: metrics_token = read
        read = srv.token("read")
        srv.start()
        assert_status(srv.get("/metrics"), 401, "no token")
        assert_status(srv.get("/metrics", headers=[("Authorization", "Bearer not-a-token")]), 401, "a wrong token")
        assert "otad_checkins_total" in scrape(srv, read)
        srv.stop()
        srv.start(args=["--metrics-token", "none"])
        assert "otad_checkins_total" in scrape(srv)
        srv.stop()
        result = srv.cli("--metrics-token", "some", "config", "dump")
        assert result.code != 0 and "metrics_token" in result.stderr, result.describe()


def test_alert_rules_pass_promtool():
    rules = REPO / "dist" / "prometheus" / "otad-alerts.yml"
    check = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True,
                           timeout=PROMTOOL_TIMEOUT_S)
    assert check.returncode == 0, f"{check.stdout.decode()}{check.stderr.decode()}"
    assert b"SUCCESS: 5 rules found" in check.stdout, check.stdout.decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_prometheus_scrapes_otad_and_loads_the_alert_rules():
    """Debian's Prometheus itself, on a free port of 127.0.0.1: it scrapes a live otad with a
    read token, finds the check-in it made, and loads the shipped alert rules (the issue's
    "the metrics and alert rules load in Prometheus")."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: install Debian's prometheus package (scripts/deps)"
    with Server() as srv, tempfile.TemporaryDirectory(prefix="otad-prometheus-") as tmp:
        srv.add_product("demo")
        publish(srv, "1.0.0", 1)
        read = srv.token("read")
        srv.start()
        assert_status(srv.send(devices.esp8266("/update/demo", srv.port, device(1, "1.0.0"))), 304,
                      "a current device")
        token_file = pathlib.Path(tmp) / "token"
        token_file.write_text(read)
        rules = REPO / "dist" / "prometheus" / "otad-alerts.yml"
        config = pathlib.Path(tmp) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{rules}']\n"
            "scrape_configs:\n"
            "  - job_name: otad\n"
            f"    authorization: {{credentials_file: '{token_file}'}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{srv.port}']}}]\n")
        port = free_port()
        prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def api(path):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as r:
                        return json.load(r)["data"]
                except OSError:
                    return None

            def target_up():
                data = api("targets")
                active = data and data["activeTargets"]
                return active if active and active[0]["health"] == "up" else None
            wait_until(target_up, timeout=60, interval=0.5, what="Prometheus to scrape otad (target up)")

            def checkin_seen():
                data = api("query?query=" + urllib.parse.quote('otad_checkins_total{product="demo",status="304"}'))
                return data and data["result"] and data["result"][0]["value"][1] == "1"
            wait_until(checkin_seen, timeout=30, interval=0.5, what="the check-in in Prometheus")
            def rules_evaluated():
                data = api("rules")
                rules = [r for g in (data or {}).get("groups", []) for r in g["rules"]]
                return rules if rules and all(r["health"] != "unknown" for r in rules) else None
            rules = wait_until(rules_evaluated, timeout=30, interval=0.5, what="the alert rules evaluated")
            names = sorted(r["name"] for r in rules)
            assert len(names) == 5 and "OtadRolloutHalted" in names, names
            assert all(r["health"] == "ok" for r in rules), rules
        finally:
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
