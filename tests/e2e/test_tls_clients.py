"""The TLS device clients, proved against real TLS servers before otad speaks TLS.

tests/tools/tls_client_bearssl (an ESP8266: BearSSL::WiFiClientSecure) and
tests/tools/tls_client_mbedtls (an ESP32: esp_https_ota over mbedTLS) are what
the HTTPS tests of otad will use as devices (issue 11). Here they talk to
`openssl s_server -WWW` and to tests/tools/tls_server_gnutls (GnuTLS, otad's
stack), both on 127.0.0.1, with throwaway CAs made by the openssl command:
every test checks the values negotiated on the wire, the MD5 of a 1 MiB
download and the resumed flag, so a client that stopped doing the thing
cannot pass.

It also pins down what GnuTLS 3.7 does with max_fragment_length: it echoes
the client's 512 on a full handshake and then sends 16 KB records, which an
ESP8266 with setBufferSizes(512, 512) cannot take; applying the negotiated
length after the handshake (gnutls_record_set_max_size) fixes it. otad's
HTTPS must do the same.
"""

import hashlib
import re
import socket
import subprocess
import time
from pathlib import Path

import harness
import tls_clients

SERVER_NAME = "otad.test"
BIG = 1 << 20
OPENSSL_TIMEOUT_S = 30
SERVER_START_TIMEOUT_S = 10
SERVER_STOP_TIMEOUT_S = 5

# The ESP8266 core's default suites (WiFiClientSecureBearSSL.cpp, suites_P): 45, ChaCha20 first.
ESP8266_SUITE_COUNT = 45
# setCiphersLessSecure(): RSA key exchange, AES-CBC, in the core's order.
REDUCED_RSA_SUITES = ["0x003D", "0x003C", "0x0035", "0x002F"]

_pki_cache = None


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=OPENSSL_TIMEOUT_S)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')[-400:]}"
    return r.stdout


def _make_ca(d, name, kind, subject):
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else \
        ["-newkey", "rsa:2048"]
    _openssl("req", "-x509", *key, "-nodes", "-keyout", f"{name}.key", "-sha256", "-days", "30",
             "-subj", f"/CN={subject}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", f"{name}.pem", cwd=d)


def _make_leaf(d, name, kind, ca):
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else \
        ["-newkey", "rsa:2048"]
    usage = "digitalSignature" if kind == "ec" else "digitalSignature,keyEncipherment"
    (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{SERVER_NAME}\nbasicConstraints=CA:FALSE\n"
                                   f"keyUsage=critical,{usage}\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", *key, "-nodes", "-keyout", f"{name}.key", "-subj", f"/CN={SERVER_NAME}",
             "-out", f"{name}.csr", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "30", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
             cwd=d)
    _openssl("x509", "-in", f"{name}.pem", "-noout", "-pubkey", "-out", f"{name}.pub", cwd=d)


def pki():
    """Throwaway CAs and server certificates (made once per run): an ECDSA P-256 CA
    and server, another ECDSA CA that signed nothing we serve, an RSA CA and server;
    and www/big.bin, 1 MiB to download."""
    global _pki_cache
    if _pki_cache and _pki_cache["dir"].exists():
        return _pki_cache
    d = harness.session_dir() / "tls-pki"
    d.mkdir(exist_ok=True)
    _make_ca(d, "ca", "ec", "otad test CA")
    _make_ca(d, "other-ca", "ec", "otad other CA")
    _make_ca(d, "rsa-ca", "rsa", "otad test RSA CA")
    _make_leaf(d, "server", "ec", "ca")
    _make_leaf(d, "rsa-server", "rsa", "rsa-ca")
    www = d / "www"
    www.mkdir(exist_ok=True)
    big = harness.make_blob(BIG, seed=11, name="tls-big.bin").read_bytes()
    (www / "big.bin").write_bytes(big)
    fingerprints = {}
    for name in ("server", "rsa-server"):
        out = _openssl("x509", "-in", f"{name}.pem", "-noout", "-fingerprint", "-sha1", cwd=d).decode()
        fingerprints[name] = out.strip().split("=", 1)[1]
    _pki_cache = {"dir": d, "www": www, "big_md5": hashlib.md5(big).hexdigest(), "fp": fingerprints}
    return _pki_cache


def _free_port():
    s = socket.socket()
    try:
        s.bind((harness.HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class BackgroundServer:
    """A TLS server process on 127.0.0.1, stopped when the `with` block ends."""

    def __init__(self, argv, cwd, ready_re, port=None):
        self.argv, self.cwd, self.ready_re, self.port = argv, cwd, ready_re, port
        self.proc = None
        self.log_path = harness.session_dir() / f"tls-server-{time.monotonic_ns()}.log"

    def __enter__(self):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            m = re.search(self.ready_re, self.log_path.read_bytes())
            if m:
                if m.groups():
                    self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{Path(self.argv[0]).name} did not start: {self.log()[-400:]!r}")
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
        self._log.close()

    def log(self):
        return self.log_path.read_text(errors="replace")


def openssl_server(cert="server", extra=()):
    """`openssl s_server -WWW` serving pki()'s www/ on 127.0.0.1 (honours max_fragment_length,
    caches sessions, issues tickets unless EXTRA says otherwise)."""
    p = pki()
    port = _free_port()
    argv = ["openssl", "s_server", "-accept", f"{harness.HOST}:{port}", "-cert", str(p["dir"] / f"{cert}.pem"),
            "-key", str(p["dir"] / f"{cert}.key"), "-WWW"] + list(extra)
    return BackgroundServer(argv, p["www"], rb"ACCEPT", port=port)


def gnutls_server(*extra):
    """tests/tools/tls_server_gnutls serving www/big.bin on 127.0.0.1 (a free port it picks)."""
    p = pki()
    argv = [str(tls_clients.find_tool("gnutls-server")), "--cert", str(p["dir"] / "server.pem"),
            "--key", str(p["dir"] / "server.key"), "--file", str(p["www"] / "big.bin")] + [str(a) for a in extra]
    return BackgroundServer(argv, p["dir"], rb"listening on 127\.0\.0\.1:(\d+)")


def ca(name="ca"):
    return str(pki()["dir"] / f"{name}.pem")


def assert_download(c, what, md5=None):
    """Connection C got the whole 1 MiB file, MD5 checked."""
    assert c["handshake"] == "ok", f"{what}: handshake {c['handshake']} ({c['error']})"
    assert c["version"] == "TLS1.2", f"{what}: version {c['version']}"
    assert c["status"] == 200, f"{what}: status {c['status']}"
    assert c["body_bytes"] == BIG, f"{what}: {c['body_bytes']} body bytes, expected {BIG}"
    assert c["body_complete"] is True, f"{what}: body not complete"
    assert c["body_md5"] == (md5 or pki()["big_md5"]), f"{what}: body MD5 {c['body_md5']}"


def assert_failed_handshake(r, error_name, what):
    assert r.code != 0, f"{what}: exit 0 although the handshake must fail: {r.describe()}"
    assert len(r) == 1, f"{what}: {r.describe()}"
    c = r[0]
    assert c["handshake"] == "failed", f"{what}: {r.describe()}"
    assert c["error"]["name"] == error_name, f"{what}: error {c['error']}, expected {error_name}"
    assert c["status"] is None and c["body_bytes"] == 0, f"{what}: got a response: {r.describe()}"
    assert "handshake failed" in r.stderr, f"{what}: no reason on stderr: {r.stderr!r}"


# ---------------------------------------------------------------------------


def test_bearssl_small_buffers_negotiate_512_download_and_resume():
    """setBufferSizes(512, 512): BearSSL announces max_fragment_length 512, a server that
    honours it sends records that fit 512 + 325 bytes, the 1 MiB file arrives intact, and
    the second connection resumes the first session (session ID, no Certificate)."""
    with openssl_server() as srv:
        r = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--bufsize", 512,
                                "--path", "/big.bin", "--connections", 2, "--require-resume")
    assert len(r) == 2, r.describe()
    for c in r:
        what = f"connection {c['connection']}"
        assert_download(c, what)
        assert c["wire"]["client_hello"]["max_fragment_length"] == 512, f"{what}: {c['wire']['client_hello']}"
        assert c["max_frag_len"] == 512 and c["max_frag_len_offered"] == 512, f"{what}: {c['max_frag_len']}"
        assert c["max_frag_len_respected"] is True, f"{what}: records up to {c['wire']['largest_record_in']}"
        assert 512 < c["wire"]["largest_app_record_in"] <= 512 + 325, \
            f"{what}: largest record {c['wire']['largest_app_record_in']} bytes"
        assert c["wire"]["client_hello"]["sni"] == SERVER_NAME, f"{what}: SNI {c['wire']['client_hello']}"
        assert len(c["wire"]["client_hello"]["suites"]) == ESP8266_SUITE_COUNT, f"{what}: suites offered"
        assert c["heap"]["iobuf_in"] == 512 + 325 and c["heap"]["iobuf_out"] == 512 + 85, f"{what}: {c['heap']}"
        heap = c["heap"]
        assert heap["total"] == sum(heap[k] for k in ("ssl_context", "x509_context", "iobuf_in", "iobuf_out",
                                                      "trust_anchors")), f"{what}: {heap}"
        assert heap["ssl_context"] > 1000 and heap["x509_context"] > 1000 and heap["trust_anchors"] > 0, heap
        assert 1000 < c["stack"]["handshake"] < c["stack"]["thread_stack"], f"{what}: stack {c['stack']}"
        assert c["word_bits"] == 64
    first, second = r[0], r[1]
    assert first["wire"]["server_hello"]["max_fragment_length"] == 512, first["wire"]["server_hello"]
    assert first["resumed"] is False and first["resume_offered"] is False, first
    assert first["wire"]["server_handshake_messages"][:2] == [2, 11], first["wire"]
    assert second["resume_offered"] is True and second["resumed"] is True, second
    assert second["wire"]["server_handshake_messages"] == [2], second["wire"]
    assert second["wire"]["client_hello"]["session_id"] == first["wire"]["server_hello"]["session_id"] != ""


def test_bearssl_buffer_sizes_decide_what_is_announced():
    """The core's default setBufferSizes(16384, 512) still announces 512 (BearSSL takes
    the smaller buffer) but can take 16 KB records; 16384 both ways announces nothing."""
    with openssl_server() as srv:
        default = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--path", "/big.bin")
        large = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--bufsize", 16384,
                                    "--profile", "full", "--path", "/big.bin")
    c = default[0]
    assert_download(c, "default buffers")
    assert c["heap"]["iobuf_in"] == 16384 + 325 and c["heap"]["iobuf_out"] == 512 + 85, c["heap"]
    assert c["wire"]["client_hello"]["max_fragment_length"] == 512, c["wire"]["client_hello"]
    c = large[0]
    assert_download(c, "16 KB buffers")
    assert c["heap"]["iobuf_in"] == 16384 + 325 and c["heap"]["iobuf_out"] == 16384 + 85, c["heap"]
    assert c["wire"]["client_hello"]["max_fragment_length"] is None, c["wire"]["client_hello"]
    assert c["max_frag_len"] == 16384 and c["max_frag_len_offered"] is None, c
    assert c["wire"]["largest_app_record_in"] > 4096, f"16 KB records expected: {c['wire']}"


def test_bearssl_refuses_a_server_it_should_not_trust():
    """The wrong CA and the wrong name fail the handshake: exit non-zero, handshake failed,
    BearSSL's error named, no HTTP at all."""
    with openssl_server() as srv:
        wrong_ca = tls_clients.bearssl(srv.port, "--ca", ca("other-ca"), "--server-name", SERVER_NAME,
                                       "--path", "/big.bin", check=False)
        wrong_name = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", "other.test",
                                         "--path", "/big.bin", check=False)
    assert_failed_handshake(wrong_ca, "BR_ERR_X509_NOT_TRUSTED", "another CA")
    assert_failed_handshake(wrong_name, "BR_ERR_X509_BAD_SERVER_NAME", "another name")


def test_bearssl_fingerprint_known_key_and_insecure():
    """setFingerprint accepts the leaf with that SHA-1 only; setKnownKey the server's key
    only; setInsecure anything. Each accepted connection downloads the file intact."""
    p = pki()
    fp = p["fp"]["server"]
    wrong_fp = ("00" if not fp.startswith("00") else "11") + fp[2:]
    with openssl_server() as srv:
        good_fp = tls_clients.bearssl(srv.port, "--fingerprint", fp, "--path", "/big.bin")
        bad_fp = tls_clients.bearssl(srv.port, "--fingerprint", wrong_fp, "--path", "/big.bin", check=False)
        good_key = tls_clients.bearssl(srv.port, "--known-key", p["dir"] / "server.pub", "--path", "/big.bin")
        bad_key = tls_clients.bearssl(srv.port, "--known-key", p["dir"] / "rsa-server.pub", "--path", "/big.bin",
                                      check=False)
        insecure = tls_clients.bearssl(srv.port, "--insecure", "--path", "/big.bin")
    assert_download(good_fp[0], "right fingerprint")
    assert good_fp[0]["auth"] == "fingerprint" and good_fp[0]["heap"]["trust_anchors"] == 0, good_fp[0]
    assert_failed_handshake(bad_fp, "BR_ERR_X509_NOT_TRUSTED", "wrong fingerprint")
    assert_download(good_key[0], "right known key")
    assert good_key[0]["auth"] == "known-key", good_key[0]
    assert bad_key.code != 0 and bad_key[0]["handshake"] == "failed", bad_key.describe()
    assert_download(insecure[0], "insecure")


def test_bearssl_reduced_rsa_profile():
    """reduced-rsa offers setCiphersLessSecure()'s four RSA/AES-CBC suites, in order; it
    gets one from an RSA server and nothing from an ECDSA-only one."""
    with openssl_server("rsa-server") as srv:
        r = tls_clients.bearssl(srv.port, "--ca", ca("rsa-ca"), "--server-name", SERVER_NAME, "--bufsize", 512,
                                "--profile", "reduced-rsa", "--path", "/big.bin")
    c = r[0]
    assert_download(c, "reduced-rsa")
    assert c["wire"]["client_hello"]["suites"] == REDUCED_RSA_SUITES, c["wire"]["client_hello"]["suites"]
    assert c["cipher"].split()[0] in REDUCED_RSA_SUITES, c["cipher"]
    assert c["max_frag_len_respected"] is True and c["max_frag_len"] == 512, c
    with openssl_server() as srv:
        ecdsa_only = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME,
                                         "--profile", "reduced-rsa", "--path", "/big.bin", check=False)
    assert ecdsa_only.code != 0 and ecdsa_only[0]["handshake"] == "failed", ecdsa_only.describe()
    assert ecdsa_only[0]["error"]["name"].startswith("BR_ERR_RECV_FATAL_ALERT"), ecdsa_only[0]["error"]


def test_bearssl_reports_a_session_the_server_did_not_resume():
    """A server without a session cache or tickets: the second connection offers the
    session, is not resumed, and --require-resume turns that into a failure."""
    with openssl_server(extra=["-no_cache", "-no_ticket"]) as srv:
        r = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--path", "/big.bin",
                                "--connections", 2, "--require-resume", check=False)
    assert r.code != 0, f"--require-resume passed without a resumption: {r.describe()}"
    assert len(r) == 2, r.describe()
    assert_download(r[1], "second connection")
    assert r[1]["resume_offered"] is True and r[1]["resumed"] is False, r[1]
    assert 11 in r[1]["wire"]["server_handshake_messages"], r[1]["wire"]
    assert "not resumed" in r.stderr, r.stderr


def test_mbedtls_downloads_with_ca_verification_and_resumes():
    """The ESP32 client: chain and name verified, max_fragment_length 1024 honoured,
    the file intact, and the second connection resumed (by ticket)."""
    with openssl_server() as srv:
        r = tls_clients.mbedtls(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--mfl", 1024,
                                "--path", "/big.bin", "--connections", 2, "--require-resume")
        wrong_ca = tls_clients.mbedtls(srv.port, "--ca", ca("other-ca"), "--server-name", SERVER_NAME,
                                       "--path", "/big.bin", check=False)
        wrong_name = tls_clients.mbedtls(srv.port, "--ca", ca(), "--server-name", "other.test",
                                         "--path", "/big.bin", check=False)
    assert len(r) == 2, r.describe()
    for c in r:
        assert_download(c, f"mbedtls connection {c['connection']}")
        assert c["max_frag_len"] == 1024 and c["max_frag_len_respected"] is True, c
        assert c["wire"]["client_hello"]["max_fragment_length"] == 1024, c["wire"]["client_hello"]
        assert c["wire"]["client_hello"]["version"] == "TLS1.2", c["wire"]["client_hello"]
    assert r[0]["resumed"] is False and r[1]["resumed"] is True, r.describe()
    assert r[1]["wire"]["server_handshake_messages"][0] == 2 and 11 not in r[1]["wire"]["server_handshake_messages"]
    for bad, what in ((wrong_ca, "another CA"), (wrong_name, "another name")):
        assert bad.code != 0 and bad[0]["handshake"] == "failed", f"{what}: {bad.describe()}"
        assert bad[0]["error"]["verify_flags"], f"{what}: no verification flags: {bad[0]['error']}"
        assert bad[0]["status"] is None, f"{what}: {bad.describe()}"


def test_gnutls_echoes_512_then_overflows_small_buffers():
    """GnuTLS 3.7 (otad's stack), as it comes: on a full handshake it echoes
    max_fragment_length 512 and sends 16 KB records anyway; setBufferSizes(512, 512)
    fails with BR_ERR_TOO_LARGE. If this test fails because GnuTLS now honours the
    length, the workaround in otad's HTTPS (gnutls_record_set_max_size) may go."""
    with gnutls_server("--connections", 1) as srv:
        r = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--bufsize", 512,
                                "--path", "/big.bin", check=False)
    c = r[0]
    assert c["handshake"] == "ok", r.describe()
    assert c["wire"]["server_hello"]["max_fragment_length"] == 512, c["wire"]["server_hello"]
    assert c["max_frag_len_respected"] is False and c["wire"]["largest_record_in"] > 512 + 325, c["wire"]
    assert c["error"]["name"] == "BR_ERR_TOO_LARGE" and r.code != 0, r.describe()


def test_gnutls_with_the_length_applied_serves_small_devices():
    """The same GnuTLS server applying the negotiated length after the handshake: both
    clients with 512-byte fragments download the file intact, first and resumed."""
    with gnutls_server("--apply-mfl", "--connections", 4) as srv:
        esp8266 = tls_clients.bearssl(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--bufsize", 512,
                                      "--path", "/big.bin", "--connections", 2, "--require-resume")
        esp32 = tls_clients.mbedtls(srv.port, "--ca", ca(), "--server-name", SERVER_NAME, "--mfl", 512,
                                    "--path", "/big.bin", "--connections", 2, "--require-resume")
        log = srv.log()
    for r, name in ((esp8266, "bearssl"), (esp32, "mbedtls")):
        assert len(r) == 2, r.describe()
        for c in r:
            what = f"{name} connection {c['connection']}"
            assert_download(c, what)
            assert c["headers"].get("Content-Length") == str(BIG), f"{what}: {c['headers']}"
            assert c["max_frag_len"] == 512 and c["max_frag_len_respected"] is True, f"{what}: {c['wire']}"
        assert r[0]["wire"]["server_hello"]["max_fragment_length"] == 512, r[0]["wire"]["server_hello"]
        assert r[1]["resumed"] is True, r.describe()
    assert log.count("(applied)") == 4, log
