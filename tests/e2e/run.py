#!/usr/bin/env python3
"""Runs every end-to-end test against the real otad binary.

Usage: tests/e2e/run.py [--otad PATH] [-k SUBSTRING]... [-v] [--list] [--durations]

Discovers tests/e2e/test_*.py, runs each module's test_* functions in the
order they are written, one at a time, each under a 90 s alarm. Prints
`ok <module.test>` or `FAIL <module.test>: <message>` per test, then the
slowest 15 tests with their seconds (--durations: every test, slowest
first), and finishes with exactly one line `e2e: N passed, N failed`.
Exit status 1 when any test failed, 0 otherwise.

The binary is copied once at start, so a rebuild during the run does not
change what is tested. -v also prints the tail of each failed test's server
log (indented, after its FAIL line). $OTAD_E2E_KEEP=1 keeps temp dirs.
"""

import argparse
import importlib
import inspect
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEST_TIMEOUT_S = 90
SLOWEST_REPORTED = 15


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout(f"test exceeded {TEST_TIMEOUT_S}s")


def discover():
    sys.path.insert(0, str(HERE))
    tests = []
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(path.stem)
        funcs = [f for name, f in vars(module).items()
                 if name.startswith("test_") and inspect.isfunction(f) and f.__module__ == module.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        tests += [(f"{path.stem}.{f.__name__}", f) for f in funcs]
    return tests


def one_line(text):
    return " | ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--otad", help="otad binary (default: $OTAD_BIN or build/otad)")
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print server log tails of failures")
    ap.add_argument("--list", action="store_true", help="list test names and exit")
    ap.add_argument("--durations", action="store_true",
                    help="print every test's seconds before the summary, not only the slowest 15")
    opts = ap.parse_args()
    if opts.otad:
        os.environ["OTAD_BIN"] = str(Path(opts.otad).resolve())

    import harness

    tests = discover()
    if opts.k:
        tests = [(n, f) for n, f in tests if any(k in n for k in opts.k)]
    if opts.list:
        for name, _ in tests:
            print(name)
        return 0

    # Test one binary for the whole run, even if build/otad is relinked meanwhile.
    source = harness.otad_bin()
    if os.access(source, os.X_OK):
        # Where the binary was built: tls_clients.py finds the TLS test clients beside it.
        os.environ["OTAD_BIN_SOURCE"] = str(Path(source).resolve())
        snapshot = harness.session_dir() / "otad"
        shutil.copy2(source, snapshot)
        os.environ["OTAD_BIN"] = str(snapshot)

    signal.signal(signal.SIGALRM, _alarm)
    passed = failed = 0
    durations = []
    try:
        for name, func in tests:
            t0 = time.monotonic()
            harness.LAST_SERVER_LOGS.clear()
            signal.alarm(TEST_TIMEOUT_S)
            try:
                func()
                error = None
            except AssertionError as e:
                error = one_line(e) or "assertion failed: " + one_line(traceback.format_exc().splitlines()[-3])
            except Exception as e:  # a harness or server crash is a failure, not an abort
                tb = traceback.extract_tb(e.__traceback__)[-1]
                error = f"{type(e).__name__}: {one_line(e)} (at {Path(tb.filename).name}:{tb.lineno})"
            finally:
                signal.alarm(0)
                leftovers = harness.cleanup_all()
            durations.append((time.monotonic() - t0, name))
            if leftovers and error is None:
                error = f"harness: {leftovers} server(s) left running"
            if error is None:
                passed += 1
                print(f"ok {name}", flush=True)
            else:
                failed += 1
                print(f"FAIL {name}: {error} ({time.monotonic() - t0:.1f}s)", flush=True)
                if opts.v:
                    for log in harness.LAST_SERVER_LOGS:
                        for line in log.strip().splitlines()[-15:]:
                            print(f"    {line}")
    finally:
        harness.cleanup_all()
        harness.cleanup_session()
    slowest = sorted(durations, reverse=True)
    if not opts.durations:
        slowest = slowest[:SLOWEST_REPORTED]
    if slowest:
        print(f"slowest {len(slowest)} of {len(durations)} tests "
              f"({sum(s for s, _ in durations):.0f} s in all):")
        for seconds, name in slowest:
            print(f"  {seconds:6.1f}s {name}")
    print(f"e2e: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
