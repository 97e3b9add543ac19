"""The TLS test clients that stand in for devices, run from the e2e tests.

What it owns: finding the built clients (tests/tools/tls_client_bearssl.c, an
ESP8266 on BearSSL, and tests/tools/tls_client_mbedtls.c, an ESP32 on
mbedTLS; and tests/tools/tls_server_gnutls.c, a GnuTLS server to prove them
against), running one under a timeout, and reading the one JSON object per
connection it prints. It decides nothing about what is correct: the tests do.

Where the clients are found, first hit wins:
  $OTAD_TLS_TOOLS_DIR;
  tests/tools/ in the build dir of the otad binary under test ($OTAD_BIN_SOURCE,
  which run.py sets before it copies the binary away, then harness.otad_bin());
  build-asan/tests/tools/, then build/tests/tools/ in this repository.

Each connection is a dict; the keys (both clients unless noted):
  connection (1-based), handshake ("ok" | "failed"),
  error {code, name, detail[, verify_flags, verify_info (mbedtls)]},
  version ("TLS1.2"), cipher ("0xC02B TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
  resume_offered, resumed (the ServerHello echoed the session ID and no
  Certificate followed), max_frag_len (the plaintext limit in force),
  max_frag_len_offered, max_frag_len_respected (every record fitted it),
  status, headers {name: value}, header_lines [...], body_bytes, content_length,
  body_md5, body_complete, closed_by, word_bits,
  heap {ssl_context, x509_context, iobuf_in, iobuf_out, trust_anchors, total} and
  stack {handshake, connection, idle, thread_stack, sanitized} (bearssl),
  wire {client_hello, server_hello, server_handshake_messages, records_in,
        largest_record_in, largest_app_record_in, largest_record_out, unparsable}.

Python standard library only.
"""

import json
import os
import subprocess
from pathlib import Path

import harness

TOOLS = {"bearssl": "tls_client_bearssl", "mbedtls": "tls_client_mbedtls",
         "gnutls-server": "tls_server_gnutls"}
RUN_TIMEOUT_S = 60.0   # one client run, all its connections
IO_TIMEOUT_S = 15      # the client's own bound on connect and on each read or write


def tools_dirs():
    """The directories searched for the clients, in order (existing or not)."""
    dirs = []
    env_dir = os.environ.get("OTAD_TLS_TOOLS_DIR")
    if env_dir:
        dirs.append(Path(env_dir))
    for binary in (os.environ.get("OTAD_BIN_SOURCE"), harness.otad_bin()):
        if binary:
            dirs.append(Path(binary).resolve().parent / "tests" / "tools")
    dirs += [harness.REPO / "build-asan" / "tests" / "tools", harness.REPO / "build" / "tests" / "tools"]
    seen, unique = set(), []
    for d in dirs:
        if str(d) not in seen:
            seen.add(str(d))
            unique.append(d)
    return unique


def find_tool(kind):
    """The path of tool KIND (a key of TOOLS); AssertionError when none is built."""
    name = TOOLS[kind]
    for d in tools_dirs():
        path = d / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    hint = " (install libmbedtls-dev: scripts/deps, then reconfigure)" if kind == "mbedtls" else ""
    raise AssertionError(f"{name} is not built{hint}; looked in: " +
                         ", ".join(str(d) for d in tools_dirs()))


class TlsRun:
    """One run of a client: its exit code, its connections (dicts), its stderr."""

    def __init__(self, argv, code, connections, stderr):
        self.argv = argv
        self.code = code
        self.connections = connections
        self.stderr = stderr

    def __len__(self):
        return len(self.connections)

    def __getitem__(self, index):
        return self.connections[index]

    def describe(self):
        conns = "; ".join(
            f"#{c.get('connection')}: handshake {c.get('handshake')} ({(c.get('error') or {}).get('name')}), "
            f"HTTP {c.get('status')}, {c.get('body_bytes')} bytes, resumed {c.get('resumed')}"
            for c in self.connections)
        return (f"{Path(self.argv[0]).name} {' '.join(self.argv[1:])} -> exit {self.code}; {conns or 'no output'}; "
                f"stderr={self.stderr.strip()[-600:]!r}")


def run(kind, port, *args, timeout=RUN_TIMEOUT_S, check=True):
    """Runs client KIND against 127.0.0.1:PORT with ARGS (strings); returns a TlsRun.

    CHECK: raise AssertionError, with the client's stderr, when it exits
    non-zero. Always raises when it outlives TIMEOUT or prints anything but
    one JSON object per line."""
    argv = [str(find_tool(kind)), "--host", harness.HOST, "--port", str(port),
            "--timeout", str(IO_TIMEOUT_S)] + [str(a) for a in args]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")[-300:]
        err = (e.stderr or b"").decode(errors="replace")[-600:]
        raise AssertionError(f"{Path(argv[0]).name} did not finish within {timeout:.0f}s: "
                             f"stdout={out!r} stderr={err!r}")
    stderr = proc.stderr.decode(errors="replace")
    connections = []
    for line in proc.stdout.decode(errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"{Path(argv[0]).name} printed a line that is not JSON ({e}): "
                                 f"{line[:200]!r}; stderr={stderr[-600:]!r}")
        if not isinstance(obj, dict):
            raise AssertionError(f"{Path(argv[0]).name} printed JSON that is not an object: {line[:200]!r}")
        connections.append(obj)
    result = TlsRun(argv, proc.returncode, connections, stderr)
    if check and proc.returncode != 0:
        raise AssertionError("TLS client failed: " + result.describe())
    return result


def bearssl(port, *args, **kw):
    """tls_client_bearssl (an ESP8266, BearSSL::WiFiClientSecure); see run()."""
    return run("bearssl", port, *args, **kw)


def mbedtls(port, *args, **kw):
    """tls_client_mbedtls (an ESP32, esp_https_ota over mbedTLS); see run()."""
    return run("mbedtls", port, *args, **kw)
