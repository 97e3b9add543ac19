"""The device library's example (lib/examples/update.c) against the real otad.

The example is built with the one cc command lib/README.md gives, taken from
the README's own code block and run exactly as written in a copy of include/
and lib/, so the README cannot rot; that build stages and confirms an update
below, and the other tests run meson's build beside the otad under test (in
the e2e stage the sanitizers' build, so the library and the POSIX port run
under ASan and UBSan). Each test is a "device" whose flash
is a folder: it checks in, stages the new release, restarts and confirms it,
and otad's device record shows the new version; a body damaged on the way
(tests/tools/faultproxy.py flips one byte) fails its MD5 and is not staged;
the same over HTTPS with the fleet CA `otad tls` made; an ESP-IDF device
resumes its image with Range across a proxy that cuts every connection at
256 KiB. The manifests' versions equal version.h's.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tlsutil
from harness import HOST, REPO, Server, make_image, md5_hex, session_dir, wait_until

sys.path.insert(0, str(REPO / "tests" / "tools"))
import faultproxy  # noqa: E402  (tests/tools is not a package)

IMAGE = 1 << 20
MAC = "5C:CF:7F:0A:0B:0C"
CUT = 256 * 1024
RUN_TIMEOUT_S = 60


def readme_command():
    """The cc command of lib/README.md: the one line of its code blocks that starts with cc."""
    text = (REPO / "lib" / "README.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("cc ")]
    assert len(lines) == 1, f"lib/README.md must give exactly one cc command, found {lines}"
    return lines[0]


_built = None


def example():
    """The example built by the README's command (once per run); returns its path."""
    global _built
    if _built is None:
        work = Path(tempfile.mkdtemp(prefix="otac-readme-", dir=session_dir()))
        shutil.copytree(REPO / "include", work / "include")
        shutil.copytree(REPO / "lib", work / "lib")
        command = readme_command()
        r = subprocess.run(["sh", "-c", command], cwd=work, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{command}: exit {r.returncode}: {r.stderr[-2000:]}"
        out = re.search(r"-o (\S+)", command).group(1)
        _built = work / out
        assert _built.exists(), f"{command} made no {out}"
    return _built


class Run:
    def __init__(self, args, proc):
        self.args = args
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        lines = proc.stdout.splitlines()
        self.line = lines[-1] if lines else ""

    def describe(self):
        return f"otac-update {' '.join(map(str, self.args))} -> exit {self.code}; " \
               f"stdout={self.stdout.strip()!r}; stderr={self.stderr.strip()[-600:]!r}"


def sanitized_example():
    """The example meson built beside the otad under test (build-asan/lib/otac-update in the e2e
    stage: the library and the port under ASan and UBSan), else the README's build."""
    source = os.environ.get("OTAD_BIN_SOURCE")
    built = Path(source).parent / "lib" / "otac-update" if source else None
    return built if built and built.exists() else example()


def device(url, folder, *args, binary=None):
    """One start of the example device whose flash is FOLDER (BINARY: which build of it)."""
    argv = ["--mac", MAC, *map(str, args), url, str(folder)]
    program = binary or sanitized_example()
    proc = subprocess.run([str(program)] + argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    run = Run(argv, proc)
    assert "Sanitizer" not in run.stderr, run.describe()
    return run


def assert_outcome(run, word, code):
    assert run.code == code and run.line.startswith(word + ":"), run.describe()
    assert len(run.stdout.splitlines()) == 1, f"the outcome must be one line: {run.describe()}"


def product_with_release(srv, version="2.0.0", seed=5):
    srv.add_product("demo")
    path = make_image("esp8266", IMAGE, seed=seed, flash_size="4M")
    srv.add_release("demo", path, version)
    return path.read_bytes()


def device_record(srv, token, mac=MAC):
    listing = srv.devices("demo", token)
    return {d["mac"].upper(): d for d in listing["devices"]}.get(mac)


def version_h():
    text = (REPO / "include" / "otac" / "version.h").read_text()
    part = {k: re.search(rf"#define OTAC_VERSION_{k}\s+(\d+)", text).group(1) for k in ("MAJOR", "MINOR", "PATCH")}
    return f"{part['MAJOR']}.{part['MINOR']}.{part['PATCH']}"


# ---------------------------------------------------------------------------


def test_readme_command_builds_the_example():
    binary = example()
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == f"otac {version_h()}", r.stdout + r.stderr
    r = subprocess.run([str(binary), "http://x/"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "usage" in r.stderr, "a missing DIR is bad usage: " + r.stderr


def test_manifest_versions_equal_version_h():
    want = version_h()
    library = json.loads((REPO / "lib" / "library.json").read_text())
    assert library["version"] == want, f"lib/library.json {library['version']}, version.h {want}"
    assert set(library["platforms"]) == {"espressif8266", "espressif32"}, library["platforms"]
    idf = (REPO / "lib" / "idf_component.yml").read_text()
    m = re.search(r'^version:\s*"?([^"\s]+)"?\s*$', idf, re.M)
    assert m and m.group(1) == want, f"lib/idf_component.yml version {m and m.group(1)}, version.h {want}"


def test_stage_restart_confirm_and_otad_records_the_new_version():
    with Server() as srv:
        image = product_with_release(srv)
        token = srv.token("read")
        srv.start()
        url = f"http://{HOST}:{srv.port}/update/demo"
        flash = srv.tmp / "device"

        # The README's own build of the example, end to end.
        first = device(url, flash, "--factory", "1.0.0", binary=example())
        assert_outcome(first, "staged", 0)
        assert "2.0.0 in slot 1" in first.line and "(200)" in first.line, first.describe()
        assert (flash / "slot1.bin").read_bytes() == image, "slot 1 must hold the image, whole"
        assert "slot 0 runs 1.0.0" in first.stderr, first.describe()

        # The restart: the new slot runs on trial and is confirmed; its check-in is current.
        second = device(url, flash, "--confirm", binary=example())
        assert "slot 1 runs 2.0.0 on trial" in second.stderr, second.describe()
        assert_outcome(second, "current", 0)
        assert "2.0.0" in second.line and "(304)" in second.line, second.describe()

        record = wait_until(lambda: (lambda d: d if d and d.get("last_status") == 304 else None)(
            device_record(srv, token)), what="the device's 304 in otad's record")
        assert record["version"] == "2.0.0", record
        assert record["sketch_md5"] == md5_hex(image), record

        # Confirmed: a third start runs slot 1 without trial and stays current.
        third = device(url, flash)
        assert "slot 1 runs 2.0.0" in third.stderr and "on trial" not in third.stderr, third.describe()
        assert_outcome(third, "current", 0)


def test_a_trial_never_confirmed_falls_back_and_a_revert_goes_back():
    with Server() as srv:
        product_with_release(srv)
        srv.start()
        url = f"http://{HOST}:{srv.port}/update/demo"

        # The new firmware restarts before it confirms: the boot after falls back.
        flash = srv.tmp / "unconfirmed"
        assert_outcome(device(url, flash, "--factory", "1.0.0"), "staged", 0)
        trial = device(url, flash)
        assert "slot 1 runs 2.0.0 on trial" in trial.stderr, trial.describe()
        back = device(url, flash)
        assert "slot 0 runs 1.0.0" in back.stderr and "fell back" in back.stderr, back.describe()

        # The new firmware finds it does not work and reverts: the next start runs slot 0.
        flash = srv.tmp / "reverted"
        assert_outcome(device(url, flash, "--factory", "1.0.0"), "staged", 0)
        reverted = device(url, flash, "--revert")
        assert "slot 1 runs 2.0.0 on trial" in reverted.stderr, reverted.describe()
        assert_outcome(reverted, "reverted", 0)
        again = device(url, flash)
        assert "slot 0 runs 1.0.0" in again.stderr and "on trial" not in again.stderr, again.describe()


def test_a_damaged_body_fails_its_md5_and_is_not_staged():
    with Server() as srv:
        image = product_with_release(srv)
        srv.start()
        flash = srv.tmp / "device"
        with faultproxy.FaultProxy(srv.port, flip_at=4096) as proxy:
            bad = device(f"http://{HOST}:{proxy.port}/update/demo", flash, "--factory", "1.0.0")
        assert_outcome(bad, "failed", 1)
        assert "error -17" in bad.line and "status 200" in bad.line, bad.describe()  # OTAC_E_MD5

        # Nothing was staged: the next start still runs the factory image, and straight from
        # otad the same release is staged whole.
        good = device(f"http://{HOST}:{srv.port}/update/demo", flash)
        assert "slot 0 runs 1.0.0" in good.stderr and "on trial" not in good.stderr, good.describe()
        assert_outcome(good, "staged", 0)
        assert (flash / "slot1.bin").read_bytes() == image


def test_https_with_the_fleet_ca():
    with Server() as srv:
        image = product_with_release(srv)
        srv.cli_ok("tls", "ca", "init", "--name", "e2e fleet CA")
        srv.cli_ok("tls", "cert", "--host", "localhost", "--ip", HOST)
        ca = srv.tmp / "fleet-ca.pem"
        ca.write_text(srv.cli_ok("tls", "export", "--format", "pem").stdout)
        srv.start(["--listen-tls", f"{HOST}:0"])
        url = f"https://localhost:{srv.tls_port}/update/demo"

        # Another CA of the same name: the handshake fails, nothing is written.
        wrong, _ = tlsutil.make_ca(srv.tmp / "other-ca", name="e2e fleet CA")
        refused = device(url, srv.tmp / "stranger", "--ca", wrong, "--factory", "1.0.0")
        assert refused.code == 1 and refused.line.startswith(("failed:", "cut:")), refused.describe()
        assert "error -20" in refused.line, refused.describe()  # OTAC_E_IO
        assert not (srv.tmp / "stranger" / "slot1.bin").exists(), "no byte may come without trust"

        flash = srv.tmp / "device"
        staged = device(url, flash, "--ca", ca, "--factory", "1.0.0")
        assert_outcome(staged, "staged", 0)
        assert (flash / "slot1.bin").read_bytes() == image
        assert_outcome(device(url, flash, "--ca", ca, "--confirm"), "current", 0)


def test_esp_idf_resumes_with_range_across_cuts():
    image_path = make_image("esp32", IMAGE, seed=9, hash_appended=True)
    image = image_path.read_bytes()
    with Server() as srv:
        srv.add_product("idf", "esp32")
        srv.add_release("idf", image_path, "2.0.0")
        srv.start()
        flash = srv.tmp / "device"
        with faultproxy.FaultProxy(srv.port, cut_after=CUT) as proxy:
            url = f"http://{HOST}:{proxy.port}/images/idf/2.0.0"
            # Three cuts need three resumes: with two the download ends cut.
            short = device(url, srv.tmp / "short", "--client", "esp-idf", "--resumes", 2)
            assert_outcome(short, "cut", 1)
            assert f"{3 * CUT} of {IMAGE} bytes" in short.line, short.describe()
            proxy.requests.clear()

            run = device(url, flash, "--client", "esp-idf", "--resumes", 3)
            assert_outcome(run, "staged", 0)
            requests = list(proxy.requests)
        assert (flash / "slot1.bin").read_bytes() == image
        assert len(requests) == 4, requests
        assert requests[0].startswith(b"GET /images/idf/2.0.0 HTTP/1.1\r\n"), requests[0]
        assert b"Range:" not in requests[0], requests[0]
        for k in (1, 2, 3):
            assert requests[k].startswith(b"GET /images/idf/2.0.0 HTTP/1.1\r\n"), requests[k]
            assert f"\r\nRange: bytes={k * CUT}-\r\n".encode() in requests[k], requests[k]
