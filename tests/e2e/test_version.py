"""`otad --version` and `otad version`: the git description the binary was built
from (against `git describe` of the tree, or meson's project version without
git), the build's options, and a version for every library the binary links
(against the NEEDED entries of its dynamic section, and against the -dev
packages' pkg-config versions, which Debian builds from the same sources)."""

import re
import subprocess

from harness import REPO, otad_bin, run_otad

# Sanitizer runtimes are the compiler's, not libraries otad calls: the build line's
# sanitize= names them instead.
SANITIZER_RUNTIMES = {"libasan": "address", "libubsan": "undefined"}
# Library line name -> pkg-config module whose version the loaded library must report.
PKG_CONFIG = {"libmicrohttpd": "libmicrohttpd", "libgnutls": "gnutls", "libsqlite3": "sqlite3",
              "libpq": "libpq", "libcrypto": "libcrypto", "libcurl": "libcurl",
              "libjansson": "jansson", "libinih": "inih", "libz": "zlib"}


def version_output():
    a = run_otad(["--version"])
    b = run_otad(["version"])
    assert a.code == 0 and b.code == 0, f"{a.describe()} / {b.describe()}"
    assert a.stdout == b.stdout, f"--version and version differ:\n{a.stdout}\n{b.stdout}"
    return a.stdout


def parse(text):
    lines = text.splitlines()
    m = re.fullmatch(r"otad (\S+)", lines[0])
    assert m, f"first line is not 'otad VERSION': {lines[0]!r}"
    assert lines[1].startswith("build: "), f"second line is not the build's options: {lines[1]!r}"
    options = dict(word.split("=", 1) for word in lines[1][len("build: "):].split())
    assert lines[2] == "libraries:", f"third line: {lines[2]!r}"
    libraries = {}
    for line in lines[3:]:
        lm = re.fullmatch(r"  (\S+) +(\S+)(?: \((.+)\))?", line)
        assert lm, f"library line is not 'NAME VERSION [(NOTE)]': {line!r}"
        libraries[lm.group(1)] = lm.group(2)
    return m.group(1), options, libraries


def test_version_is_the_git_description_of_the_tree():
    describe, _, _ = parse(version_output())
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    if git.returncode != 0:  # a tarball: meson's project version
        project = re.search(r"version\s*:\s*'([^']+)'", (REPO / "meson.build").read_text()).group(1)
        assert describe == project, f"without git the version is {describe!r}, not {project!r}"
        return
    # The tree may have been edited since the build (tests/run builds first, so only a
    # hand-run test sees that): the commit must match, "-dirty" may differ.
    want = git.stdout.strip()
    assert describe.removesuffix("-dirty") == want.removesuffix("-dirty"), \
        f"otad says {describe!r}, git describe says {want!r}"


def test_build_options_are_listed():
    _, options, _ = parse(version_output())
    for key in ("buildtype", "optimization", "debug", "b_ndebug", "sanitize", "werror",
                "postgresql", "compiler"):
        assert options.get(key), f"build line lacks {key}=: {options}"


def test_every_linked_library_has_its_version():
    _, options, libraries = parse(version_output())
    dynamic = subprocess.run(["readelf", "-d", otad_bin()], capture_output=True, text=True,
                             check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    assert needed, f"readelf found no NEEDED entries:\n{dynamic}"
    missing = []
    for soname in needed:
        name = soname.split(".so")[0]
        if name in SANITIZER_RUNTIMES:
            assert SANITIZER_RUNTIMES[name] in options["sanitize"], \
                f"{soname} linked but the build line says sanitize={options['sanitize']}"
        elif name not in libraries:
            missing.append(soname)
    assert not missing, f"linked but not in otad --version: {missing}; it lists {sorted(libraries)}"
    assert ("libpq" in libraries) == (options["postgresql"] == "yes"), (options, libraries)


def test_library_versions_are_the_libraries_own():
    _, _, libraries = parse(version_output())
    for name, module in PKG_CONFIG.items():
        if name not in libraries:
            continue
        pc = subprocess.run(["pkg-config", "--modversion", module], capture_output=True, text=True)
        if pc.returncode != 0:
            continue  # built elsewhere: nothing here to compare with
        assert libraries[name] == pc.stdout.strip(), \
            f"{name}: otad says {libraries[name]}, pkg-config {module} says {pc.stdout.strip()}"
