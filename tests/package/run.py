#!/usr/bin/env python3
"""The Debian package, end to end: tests/run's "package" stage.

Sets up a build with --prefix and checks meson's list of what `meson install`
writes (all under the prefix, the expected files). Clones the commit checked
out (a clean checkout: nothing built, nothing ignored
carried over), runs scripts/package in the clone (DEB_BUILD_OPTIONS nocheck,
parallel=2, no debug-symbols package), and checks the clone is left as it was
but for build-pkg/, and lists the package's files. Then, in a throwaway root, installs the .deb and checks
what the maintainer scripts made, runs `otad --version` and `otad serve` as
the otad user until /healthz answers, removes the package (the data stays),
installs it again and purges it (the data goes, the user stays).

The throwaway root is an overlay over this machine's own root, in a mount
namespace of its own (unshare), with a tmpfs taking every write: dpkg,
adduser and the maintainer scripts run as on a real system, nothing reaches
the machine, and it all vanishes when the namespace ends. The alternatives
were worse: `dpkg --root` runs the scripts outside the root (adduser does not
honour $DPKG_ROOT), and debootstrap downloads ~100 MB. It needs root (as
tests/run has).

Prints `ok NAME` / `FAIL NAME: why` per check and ends with
`package: N passed, N failed`; exit status 1 on any failure.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   %s" % name, flush=True)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    return ok


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Runs inside the throwaway root, as root. Prints "@KEY VALUE" facts for the checks below;
# a step that fails prints "@error STEP: output" and stops.
IN_ROOT = r"""
set -u
fact() { printf '@%s %s\n' "$1" "$2"; }
step() { name=$1; shift; out=$("$@" 2>&1) || { fact error "$name: $(echo "$out" | tail -5 | tr '\n' '|')"; exit 0; }; }
mode() { stat -c '%a %U %G' "$1" 2>/dev/null || echo absent; }

step install dpkg -i /tmp/otad.deb
fact user "$(getent passwd otad | cut -d: -f1,6,7)"
fact group "$(getent group otad | cut -d: -f1)"
fact data_dir "$(mode /var/lib/otad)"
fact etc_dir "$(mode /etc/otad)"
fact conffiles "$(dpkg-query -W -f='${Conffiles}' otad | awk '{print $1}' | tr '\n' ' ')"
fact enabled_service "$(test -L /etc/systemd/system/multi-user.target.wants/otad.service && echo yes || echo no)"
fact enabled_socket "$(test -L /etc/systemd/system/sockets.target.wants/otad.socket && echo yes || echo no)"
fact enabled_timer "$(test -L /etc/systemd/system/timers.target.wants/otad-backup.timer && echo yes || echo no)"
fact version "$(/usr/bin/otad --version | head -1)"

setpriv --reuid=otad --regid=otad --init-groups env OTAD_CONFIG=/etc/otad/otad.ini OTAD_LISTEN=127.0.0.1:$PORT \
    /usr/bin/otad serve >/tmp/serve.log 2>&1 &
pid=$!
health=none
for i in $(seq 1 100); do
    health=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/healthz) && [ "$health" = 200 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
fact healthz "$health"
kill -TERM $pid 2>/dev/null; wait $pid; fact serve_exit "$?"
[ "$health" = 200 ] || fact serve_log "$(tail -5 /tmp/serve.log | tr '\n' '|')"
fact data_written "$(ls /var/lib/otad | tr '\n' ' ')"

step remove dpkg -r otad
fact removed_binary "$(test -e /usr/bin/otad && echo present || echo absent)"
fact removed_data "$(ls /var/lib/otad 2>/dev/null | tr '\n' ' ')"
fact removed_conf "$(test -e /etc/otad/otad.ini && echo present || echo absent)"

step reinstall dpkg -i /tmp/otad.deb
step purge dpkg -P otad
fact purged_data "$(test -e /var/lib/otad && echo present || echo absent)"
fact purged_etc "$(test -e /etc/otad && echo present || echo absent)"
fact purged_override "$(dpkg-statoverride --list /etc/otad || echo none)"
fact purged_user "$(getent passwd otad | cut -d: -f1)"
fact done yes
"""

# Makes the throwaway root (in the namespace unshare gives this script) and runs IN_ROOT there.
MAKE_ROOT = r"""
set -eu
top=$1 deb=$2
mount -t tmpfs tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"
mount -t proc proc "$top/root/proc"
mount --rbind /dev "$top/root/dev"
mount -t tmpfs tmpfs "$top/root/run"
mount -t tmpfs tmpfs "$top/root/tmp"
cp "$deb" "$top/root/tmp/otad.deb"
chroot "$top/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PORT="$PORT" \
    DEBIAN_FRONTEND=noninteractive /bin/sh -c "$IN_ROOT"
"""


# What `meson install` puts under the prefix (meson's sysconfdir is PREFIX/etc for a prefix
# other than /usr), and what the package holds besides the docs debhelper adds.
PREFIX_LAYOUT = {"bin/otad", "bin/otad-sim", "etc/otad/otad.ini",
                 "lib/systemd/system/otad.service", "lib/systemd/system/otad.socket",
                 "lib/systemd/system/otad-backup.service", "lib/systemd/system/otad-backup.timer",
                 "share/man/man8/otad.8", "share/man/man5/otad.ini.5",
                 "share/bash-completion/completions/otad"}
PACKAGE_FILES = {"usr/bin/otad", "usr/bin/otad-sim", "etc/otad/otad.ini",
                 "lib/systemd/system/otad.service", "lib/systemd/system/otad.socket",
                 "lib/systemd/system/otad-backup.service", "lib/systemd/system/otad-backup.timer",
                 "usr/share/man/man8/otad.8.gz", "usr/share/man/man5/otad.ini.5.gz",
                 "usr/share/bash-completion/completions/otad"}


def check_prefix_layout(tmp):
    """meson's own list of what `meson install` writes, for a build set up with --prefix
    (configuring is enough: no compile), and the unit it fills in for that prefix."""
    prefix, build = os.path.join(tmp, "p"), os.path.join(tmp, "b")
    r = sh(["meson", "setup", "--prefix=" + prefix, "-Dtests=false", build], cwd=ROOT)
    if not check("meson setup --prefix", r.returncode == 0, (r.stdout + r.stderr)[-2000:]):
        return
    installed = json.loads(sh(["meson", "introspect", build, "--installed"]).stdout).values()
    outside = [p for p in installed if not p.startswith(prefix + "/")]
    check("meson install writes nothing outside the prefix", not outside, outside)
    got = {os.path.relpath(p, prefix) for p in installed}
    check("meson install puts binaries, units, config, man pages, completion in place",
          got == PREFIX_LAYOUT, "missing %s, unexpected %s" % (sorted(PREFIX_LAYOUT - got),
                                                               sorted(got - PREFIX_LAYOUT)))
    with open(os.path.join(build, "otad.service")) as f:
        unit = f.read()
    check("the installed otad.service names the prefix's binary and config",
          "ExecStart=%s/bin/otad serve" % prefix in unit and
          "OTAD_CONFIG=%s/etc/otad/otad.ini" % prefix in unit, unit)


def check_package_files(deb):
    listing = sh(["dpkg-deb", "--contents", deb]).stdout
    files = {line.split()[5].lstrip("./") for line in listing.splitlines()
             if line.startswith("-")}
    files = {f for f in files if not f.startswith(("usr/share/doc/", "usr/share/lintian/"))}
    check("the package holds the installed layout under /usr, /etc and /lib/systemd",
          files == PACKAGE_FILES, "missing %s, unexpected %s" % (sorted(PACKAGE_FILES - files),
                                                                 sorted(files - PACKAGE_FILES)))


def in_throwaway_root(deb):
    with tempfile.TemporaryDirectory(prefix="otad-root.") as top:
        env = dict(os.environ, IN_ROOT=IN_ROOT, PORT=str(free_port()))
        r = sh(["unshare", "--mount", "--propagation", "private", "sh", "-c", MAKE_ROOT, "sh",
                top, deb], env=env, timeout=300)
    facts = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^@(\w+) ?(.*)$", line)
        if m:
            facts[m.group(1)] = m.group(2).strip()
    if r.returncode != 0 or "error" in facts or facts.get("done") != "yes":
        check("throwaway root", False, "exit %d, %s\n%s" % (
            r.returncode, facts.get("error", "stopped early"), (r.stdout + r.stderr)[-3000:]))
    return facts


def main():
    if os.geteuid() != 0:
        check("runs as root", False, "the package stage needs root (dpkg, mount namespaces)")
        print("package: %d passed, %d failed" % (passed, failed))
        return 1
    head = sh(["git", "-C", ROOT, "rev-parse", "--short=7", "HEAD"], check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="otad-prefix.") as tmp:
        check_prefix_layout(tmp)
    with tempfile.TemporaryDirectory(prefix="otad-clone.") as tmp:
        clone = os.path.join(tmp, "otad")
        sh(["git", "init", "-q", clone], check=True)
        sh(["git", "-C", ROOT, "push", "-q", clone, "HEAD:refs/heads/main",
            "refs/tags/*:refs/tags/*"], check=True)
        sh(["git", "-C", clone, "checkout", "-q", "main"], check=True)

        started = time.monotonic()
        env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2 noddebs")
        r = sh(["scripts/package"], cwd=clone, env=env, timeout=600)
        built = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if not check("scripts/package builds from a clean clone (%d s)" % (time.monotonic() - started),
                     r.returncode == 0 and built.endswith(".deb") and os.path.exists(built),
                     "exit %d: %s" % (r.returncode, (r.stdout + r.stderr)[-3000:])):
            print("package: %d passed, %d failed" % (passed, failed))
            return 1
        arch = sh(["dpkg", "--print-architecture"]).stdout.strip()
        name = os.path.basename(built)
        check("the package is build-pkg/otad_VERSION_%s.deb with the commit in its version" % arch,
              os.path.dirname(built) == os.path.join(clone, "build-pkg") and
              re.fullmatch(r"otad_[0-9][^_]*g%s_%s\.deb" % (head, arch), name) is not None,
              built)
        check_package_files(built)
        status = sh(["git", "-C", clone, "status", "--porcelain", "--ignored"]).stdout.split("\n")
        left = [line for line in status if line and line != "!! build-pkg/"]
        check("scripts/package leaves the tree as it was but for build-pkg/", not left, left)

        facts = in_throwaway_root(built)

    def fact_is(label, key, want):
        got = facts.get(key)
        check(label, got == want, "%s is %r, want %r" % (key, got, want))

    fact_is("install creates the otad system user, home /var/lib/otad, no login", "user",
            "otad:/var/lib/otad:/usr/sbin/nologin")
    fact_is("install creates the otad group", "group", "otad")
    fact_is("install creates /var/lib/otad 0750 otad:otad", "data_dir", "750 otad otad")
    fact_is("install gives /etc/otad to root:otad 0750", "etc_dir", "750 root otad")
    fact_is("/etc/otad/otad.ini is a conffile", "conffiles", "/etc/otad/otad.ini")
    fact_is("otad.service is enabled", "enabled_service", "yes")
    fact_is("otad.socket is not enabled", "enabled_socket", "no")
    fact_is("otad-backup.timer is not enabled", "enabled_timer", "no")
    fact_is("the installed otad --version names the commit", "version",
            "otad %s" % sh(["git", "-C", ROOT, "describe", "--always"]).stdout.strip())
    check("otad serve, as the otad user with /etc/otad/otad.ini, answers /healthz",
          facts.get("healthz") == "200", "healthz %r; log: %s" % (facts.get("healthz"),
                                                                    facts.get("serve_log")))
    fact_is("otad serve stops cleanly on SIGTERM", "serve_exit", "0")
    check("otad serve wrote its database into /var/lib/otad",
          "otad.db" in facts.get("data_written", "").split(), facts.get("data_written"))
    fact_is("remove takes the binary", "removed_binary", "absent")
    check("remove leaves the data folder and what is in it",
          "otad.db" in facts.get("removed_data", "").split(), facts.get("removed_data"))
    fact_is("remove leaves the conffile", "removed_conf", "present")
    fact_is("purge deletes /var/lib/otad", "purged_data", "absent")
    fact_is("purge deletes /etc/otad", "purged_etc", "absent")
    fact_is("purge drops /etc/otad's permission override", "purged_override", "none")
    fact_is("purge keeps the otad user (Debian policy for system users)", "purged_user", "otad")
    print("package: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
