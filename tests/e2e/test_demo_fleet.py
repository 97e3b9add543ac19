"""`scripts/demo --fleet N`'s fleet part (scripts/demo-fleet) against the real
daemon, bounded: the server runs with the script's fast-time flags on the
demo's product and first release, `prepare` publishes the second release,
and `run` starts its rollout and otad-sim with 200 devices for a minute.
Within a minute devices are registered and the rollout is past its first
stage, in the API (what the dashboard reads) and in the CLI command the
script tells a newcomer to run. The whole scripts/demo is not run: it
installs packages and serves until Ctrl-C.

otad-sim is the binary beside the otad under test (build-asan/otad-sim in
the e2e stage)."""

import os
import re
import signal
import subprocess
from pathlib import Path

import harness
from harness import REPO, Server, make_image, wait_until

DEMO_FLEET = REPO / "scripts" / "demo-fleet"
DEVICES = 200


def sim_bin():
    """otad-sim beside the otad under test (run.py copies otad; OTAD_BIN_SOURCE is the original)."""
    otad = os.environ.get("OTAD_BIN_SOURCE") or harness.otad_bin()
    path = Path(otad).resolve().parent / "otad-sim"
    assert os.access(path, os.X_OK), f"otad-sim not built beside {otad}: {path}"
    return path


def script_env(srv):
    env = harness.clean_env({"OTAD_DATA_DIR": str(srv.data_dir), "OTAD": harness.otad_bin(),
                             "OTAD_SIM": str(sim_bin()), "DEMO_FLEET_DURATION": "60s"})
    if srv.database_url:
        env["OTAD_DATABASE"] = srv.database_url
    return env


def test_demo_fleet_shows_devices_and_a_rollout_past_its_first_stage():
    flags = subprocess.run([str(DEMO_FLEET), "flags"], capture_output=True, text=True, timeout=10,
                           check=True).stdout.split()
    assert "--rollout-deadline-margin-ms" in flags, flags
    with Server(args=flags) as srv:
        # What scripts/demo makes before it serves: product demo with release 1.0.0.
        srv.add_product("demo")
        srv.add_release("demo", make_image("esp8266", 262144, flash_size="4M", seed=1), "1.0.0")
        env = script_env(srv)
        prep = subprocess.run([str(DEMO_FLEET), "prepare"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert prep.returncode == 0, prep.stderr
        channel = srv.cli_ok("channel", "show", "demo", "stable", "--json").json()["channel"]
        assert (channel["deploy"], channel["deployed"], channel["latest"]) == \
            ("manual", "1.0.0", "1.1.0"), channel
        srv.start()
        run = subprocess.Popen([str(DEMO_FLEET), "run", str(srv.port), str(DEVICES)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
        try:
            token = srv.token("read", "demo-fleet")

            def registered():
                n = srv.devices("demo", token, "?limit=1")["total"]
                return n if n >= DEVICES * 9 // 10 else None
            wait_until(registered, timeout=30, interval=0.5, what="the simulated devices to appear")

            def past_first_stage():
                r = srv.api("GET", "/api/v1/products/demo/rollouts", token)
                assert r.status == 200, r.describe()
                ros = [x for x in r.json()["rollouts"] if x["version"] == "1.1.0"]
                return ros[0] if ros and ros[0]["stage"] >= 2 else None
            ro = wait_until(past_first_stage, timeout=60, interval=0.5,
                            what="the rollout of 1.1.0 past its first stage")
            assert ro["state"] in ("running", "completed"), ro
            c = ro["counters"]
            assert c["succeeded"] >= 1 and c["failed"] == 0, c
            # The command the script tells a newcomer to run shows the same.
            shown = srv.cli_ok("rollout", "status", "demo", str(ro["id"])).stdout
            assert re.search(r"stage [23]/3", shown), shown
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGTERM)
            out, err = run.communicate(timeout=20)
        assert f"rollout status demo {ro['id']}" in out, (out, err)
        assert f"http://127.0.0.1:{srv.port}/" in out, out
        # What `tail -f` shows a newcomer: the simulator's live line; and its timeline.
        log = (srv.data_dir / "otad-sim.log").read_text(errors="replace")
        assert "seen" in log and "updated" in log, log[-500:]
        assert (srv.data_dir / "fleet-timeline.jsonl").stat().st_size > 0, log[-500:]
