#!/usr/bin/env python3
"""What the package's maintainer scripts do to the systemd units on upgrade and remove.

debhelper writes most of them: debian/rules' override_dh_installsystemd decides which
snippets go into preinst, postinst and prerm, and a flag there can stop a running otad on
every upgrade for good (the preinst stops it, nothing starts it again) or leave it running
from a deleted binary after `apt remove`. This runs that rule target and dh_installdeb, as
the package build does, in a copy of debian/ with the units as meson installs them, then
runs the assembled scripts with stand-ins for systemctl, deb-systemd-invoke and the
user-making commands on PATH, and with /run/systemd/system (whether systemd runs) pointed
at a folder of the test's. It reads which units each script stops and restarts. It also holds the units'
directory modes to the ones the postinst makes.

Fast (no package build, no root); tests/run's style stage runs it, and the package stage
(tests/package/run.py) covers the real install. Prints `ok NAME` / `FAIL NAME: why` and
ends with `maintscripts: N passed, N failed`; exit status 1 on any failure.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0

# Commands the scripts call that must not touch this machine: each logs its arguments.
STUBS = ["systemctl", "deb-systemd-invoke", "deb-systemd-helper", "adduser", "getent",
         "install", "dpkg-statoverride", "dpkg-maintscript-helper"]


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   %s" % name, flush=True)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    return ok


def build_scripts(work):
    """debian/ copied into WORK, the units installed as meson does, the rules' systemd
    target and dh_installdeb run: returns the DEBIAN folder with the final scripts."""
    shutil.copytree(os.path.join(ROOT, "debian"), os.path.join(work, "debian"))
    unitdir = os.path.join(work, "debian", "otad", "lib", "systemd", "system")
    os.makedirs(unitdir)
    for unit in ("otad.service", "otad-backup.service"):
        with open(os.path.join(ROOT, "dist", unit + ".in")) as f:
            text = f.read().replace("@bindir@", "/usr/bin").replace("@sysconfdir@", "/etc")
        with open(os.path.join(unitdir, unit), "w") as f:
            f.write(text)
    for unit in ("otad.socket", "otad-backup.timer"):
        shutil.copy(os.path.join(ROOT, "dist", unit), unitdir)
    env = dict(os.environ, DH_QUIET="1")
    for cmd in (["make", "-f", "debian/rules", "override_dh_installsystemd"], ["dh_installdeb"]):
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stdout + r.stderr)[-2000:]))
    return os.path.join(work, "debian", "otad", "DEBIAN")


def run_script(debian_dir, work, name, *args):
    """Runs maintainer script NAME with ARGS as if systemd ran; returns the stubs' calls."""
    path = os.path.join(debian_dir, name)
    if not os.path.exists(path):
        return []
    stubs = os.path.join(work, "stubs")
    systemd_dir = os.path.join(work, "run-systemd-system")
    calls = os.path.join(work, "calls")
    os.makedirs(stubs, exist_ok=True)
    os.makedirs(systemd_dir, exist_ok=True)
    for stub in STUBS:
        with open(os.path.join(stubs, stub), "w") as f:
            # getent: the otad user exists already (an upgrade or a reinstall)
            f.write('#!/bin/sh\necho "%s $*" >> "%s"\nexit 0\n' % (stub, calls))
        os.chmod(os.path.join(stubs, stub), 0o755)
    with open(path) as f:
        text = f.read().replace("/run/systemd/system", systemd_dir)
    copy = os.path.join(work, "script-" + name)
    with open(copy, "w") as f:
        f.write(text)
    if os.path.exists(calls):
        os.unlink(calls)
    env = {"PATH": stubs + ":/usr/bin:/bin", "DPKG_MAINTSCRIPT_PACKAGE": "otad",
           "DPKG_MAINTSCRIPT_NAME": name}
    r = subprocess.run(["sh", copy] + list(args), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s %s exited %d: %s" % (name, " ".join(args), r.returncode, r.stderr))
    if not os.path.exists(calls):
        return []
    with open(calls) as f:
        return [line.split() for line in f.read().splitlines()]


def invoked(calls, action, unit):
    """Whether deb-systemd-invoke ran ACTION on UNIT."""
    return any(c[0] == "deb-systemd-invoke" and c[1] == action and
               any(u.strip("'") == unit for u in c[2:]) for c in calls)


def unit_setting(unit_in, key, default):
    """The last value of KEY in the unit template UNIT_IN (systemd's default when unset)."""
    value = default
    with open(os.path.join(ROOT, "dist", unit_in)) as f:
        for line in f:
            if line.startswith(key + "="):
                value = line.split("=", 1)[1].strip()
    return value


def check_directory_modes():
    """systemd warns at every start when an existing StateDirectory= or ConfigurationDirectory=
    has another mode than the unit's (and leaves /etc/otad as it is): the unit must say the
    modes the postinst gives /var/lib/otad and /etc/otad."""
    with open(os.path.join(ROOT, "debian", "otad.postinst")) as f:
        postinst = f.read()
    state = re.search(r"install -d -o otad -g otad -m (0\d+) /var/lib/otad", postinst)
    config = re.search(r"dpkg-statoverride --update --add root otad (0\d+) /etc/otad", postinst)
    for unit in ("otad.service.in", "otad-backup.service.in"):
        if state:
            mode = unit_setting(unit, "StateDirectoryMode", "0755")
            check("%s: StateDirectoryMode is the postinst's %s" % (unit, state.group(1)),
                  int(mode, 8) == int(state.group(1), 8), "it is %s" % mode)
    if check("the postinst gives /var/lib/otad and /etc/otad their modes", state and config,
             "install -d ... /var/lib/otad or dpkg-statoverride ... /etc/otad not found"):
        mode = unit_setting("otad.service.in", "ConfigurationDirectoryMode", "0755")
        check("otad.service: ConfigurationDirectoryMode is the postinst's %s" % config.group(1),
              int(mode, 8) == int(config.group(1), 8), "it is %s" % mode)


def main():
    for tool in ("dh_installsystemd", "dh_installdeb", "make"):
        if not shutil.which(tool):
            check("debhelper is installed", False, "%s is missing (tests/run deps)" % tool)
            print("maintscripts: %d passed, %d failed" % (passed, failed))
            return 1
    check_directory_modes()
    with tempfile.TemporaryDirectory(prefix="otad-maintscripts-") as work:
        debian_dir = build_scripts(work)

        # An upgrade of a running otad: dpkg runs the new preinst, then the new postinst.
        pre = run_script(debian_dir, work, "preinst", "upgrade", "0.1.0")
        post = run_script(debian_dir, work, "postinst", "configure", "0.1.0")
        check("upgrade: the preinst does not stop otad.service (nothing would start it again)",
              not invoked(pre, "stop", "otad.service"), "preinst calls: %s" % pre)
        check("upgrade: the postinst restarts a running otad.service on the new binary",
              invoked(post, "try-restart", "otad.service") or
              invoked(post, "restart", "otad.service"), "postinst calls: %s" % post)
        check("upgrade: otad.socket is neither stopped nor restarted (otad holds its port)",
              not any(invoked(pre + post, a, "otad.socket")
                      for a in ("stop", "restart", "try-restart")),
              "calls: %s" % (pre + post))
        check("upgrade: the backup timer is not stopped for good",
              not invoked(pre, "stop", "otad-backup.timer") or
              invoked(post, "try-restart", "otad-backup.timer"), "calls: %s" % (pre + post))

        # A fresh install: enabled, never started.
        fresh = run_script(debian_dir, work, "postinst", "configure")
        check("install: otad.service is not started",
              not any(invoked(fresh, a, "otad.service") for a in ("start", "restart")),
              "postinst calls: %s" % fresh)

        # apt remove: what runs from the package stops before its files go.
        rm = run_script(debian_dir, work, "prerm", "remove")
        for unit in ("otad.service", "otad.socket", "otad-backup.timer"):
            check("remove: the prerm stops %s" % unit, invoked(rm, "stop", unit),
                  "prerm calls: %s" % rm)
        up = run_script(debian_dir, work, "prerm", "upgrade", "0.2.0")
        check("upgrade: the old prerm stops nothing",
              not any(c[0] == "deb-systemd-invoke" and c[1] == "stop" for c in up),
              "prerm calls: %s" % up)
    print("maintscripts: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
