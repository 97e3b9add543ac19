"""`otad tls` on a data dir, checked with tools independent of otad: the
openssl command line reads and verifies the CA and the server certificates,
a real TLS handshake (Python's ssl) accepts them by name, the header from
`tls export` compiles with the host's compilers and carries the fingerprint
`openssl x509 -fingerprint` computes; renewals keep the public key, a CA is
never replaced without --force, and a certificate from elsewhere is taken
as it is (docs/TLS.md, "The fleet CA: otad tls")."""

import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

from harness import Server

HOSTS = ["ota.example.net", "otad.local"]
IPS = ["127.0.0.1", "::1"]


def openssl(*args, data=None):
    r = subprocess.run(["openssl"] + [str(a) for a in args], input=data, capture_output=True,
                       timeout=60)
    return r


def openssl_ok(*args):
    r = openssl(*args)
    assert r.returncode == 0, f"openssl {' '.join(map(str, args))}: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def tls_dir(srv):
    return srv.data_dir / "tls"


def issue(srv, *extra):
    args = ["tls", "cert"]
    for h in HOSTS:
        args += ["--host", h]
    for ip in IPS:
        args += ["--ip", ip]
    return srv.cli_ok(*(args + list(extra)))


def fingerprint(path, digest="sha1"):
    out = openssl_ok("x509", "-in", path, "-noout", "-fingerprint", "-" + digest)
    return out.strip().split("=", 1)[1]


def pubkey(path):
    return openssl_ok("x509", "-in", path, "-noout", "-pubkey")


def handshake(cert, key, cafile, server_name, ciphers=None):
    """A TLS handshake over a socket pair: a server with CERT/KEY, a client that
    trusts only CAFILE and checks SERVER_NAME. Returns the server certificate's DER
    the client saw, or raises ssl.SSLError."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cafile=str(cafile))
    if ciphers:  # TLS 1.2 suites only: RSA key exchange, as ESP8266 setCiphersLessSecure()
        for ctx in (server_ctx, client_ctx):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(ciphers)
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    errors = []

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as e:
            errors.append(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_name) as c:
            der = c.getpeercert(binary_form=True)
            c.sendall(b"x")
            return der
    finally:
        t.join(10)


def test_tls_ca_and_certificates_verify_with_openssl():
    with Server() as srv:
        r = srv.cli_ok("tls", "ca", "init")
        d = tls_dir(srv)
        assert mode(d / "ca.key") == 0o600 and mode(d / "ca.pem") == 0o644 and mode(d) == 0o700, \
            f"modes: {oct(mode(d / 'ca.key'))} {oct(mode(d / 'ca.pem'))} {oct(mode(d))}"
        assert "otad fleet CA" in r.stdout, r.describe()
        text = openssl_ok("x509", "-in", d / "ca.pem", "-noout", "-text")
        assert re.search(r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", text), text
        assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", text), text
        assert "Subject Key Identifier" in text and "NIST CURVE: P-256" in text, text
        assert "ecdsa-with-SHA256" in text, text

        r = issue(srv)
        assert "server.pem" in r.stdout and "server-rsa.pem" in r.stdout, r.describe()
        for name, algo in (("server", "id-ecPublicKey"), ("server-rsa", "rsaEncryption")):
            pem, key = d / f"{name}.pem", d / f"{name}.key"
            assert mode(key) == 0o600 and mode(pem) == 0o644, f"{name}: {oct(mode(key))}"
            out = openssl_ok("verify", "-CAfile", d / "ca.pem", pem)
            assert out.strip().endswith("OK"), out
            for host in HOSTS:
                openssl_ok("verify", "-CAfile", d / "ca.pem", "-purpose", "sslserver",
                           "-verify_hostname", host, pem)
            openssl_ok("verify", "-CAfile", d / "ca.pem", "-verify_ip", "127.0.0.1", pem)
            bad = openssl("verify", "-CAfile", d / "ca.pem", "-verify_hostname", "evil.example", pem)
            assert bad.returncode != 0, "a name the certificate lacks must not verify"
            text = openssl_ok("x509", "-in", pem, "-noout", "-text")
            assert algo in text, text
            assert re.search(r"Basic Constraints: critical\s+CA:FALSE", text), text
            assert "TLS Web Server Authentication" in text, text
            assert ("DNS:ota.example.net, DNS:otad.local, IP Address:127.0.0.1, "
                    "IP Address:0:0:0:0:0:0:0:1") in text, text
            assert "Authority Key Identifier" in text and "Subject Key Identifier" in text, text
            assert "Subject: CN = ota.example.net" in text, text
            # The chain file is the leaf, then the CA.
            blocks = pem.read_text().count("BEGIN CERTIFICATE")
            assert blocks == 2, f"{name}.pem holds {blocks} certificates"
            assert pem.read_text().endswith((d / "ca.pem").read_text()), "the CA must follow the leaf"


def test_tls_certificates_pass_a_real_handshake():
    with Server() as srv:
        srv.cli_ok("tls", "ca", "init")
        issue(srv)
        d = tls_dir(srv)
        der = handshake(d / "server.pem", d / "server.key", d / "ca.pem", "ota.example.net")
        assert der == ssl.PEM_cert_to_DER_cert((d / "server.pem").read_text().split(
            "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"), "the client saw another certificate"
        # RSA key exchange only (what an ESP8266 offers after setCiphersLessSecure()) needs the RSA one.
        handshake(d / "server-rsa.pem", d / "server-rsa.key", d / "ca.pem", "otad.local",
                  ciphers="AES128-SHA256")
        try:
            handshake(d / "server.pem", d / "server.key", d / "ca.pem", "otad.local",
                      ciphers="AES128-SHA256")
            raise AssertionError("an ECDSA certificate cannot serve RSA key exchange")
        except (ssl.SSLError, OSError):
            pass
        try:
            handshake(d / "server.pem", d / "server.key", d / "ca.pem", "evil.example.net")
            raise AssertionError("a client checking another name must refuse the certificate")
        except ssl.SSLCertVerificationError:
            pass


def test_tls_ca_init_refuses_to_replace_a_ca():
    with Server() as srv:
        srv.cli_ok("tls", "ca", "init", "--name", "Fleet A", "--days", "100")
        d = tls_dir(srv)
        before = ((d / "ca.pem").read_bytes(), (d / "ca.key").read_bytes())
        r = srv.cli("tls", "ca", "init")
        assert r.code == 1 and "--force" in r.stderr, r.describe()
        assert ((d / "ca.pem").read_bytes(), (d / "ca.key").read_bytes()) == before, \
            "a refused ca init changed the CA"
        r = srv.cli_ok("tls", "ca", "init", "--force", "--rsa")
        assert "replaced" in r.stdout and "new firmware" in r.stderr, r.describe()
        assert (d / "ca.pem").read_bytes() != before[0] and mode(d / "ca.key") == 0o600
        text = openssl_ok("x509", "-in", d / "ca.pem", "-noout", "-text")
        assert "Public-Key: (3072 bit)" in text and "otad fleet CA" in text, text


def test_tls_renewal_keeps_the_public_key():
    with Server() as srv:
        srv.cli_ok("tls", "ca", "init")
        issue(srv)
        d = tls_dir(srv)
        keys = {n: pubkey(d / f"{n}.pem") for n in ("server", "server-rsa")}
        fps = {n: fingerprint(d / f"{n}.pem") for n in ("server", "server-rsa")}
        r = issue(srv, "--days", "30")
        assert r.stdout.count("key: kept") == 2, r.describe()
        assert "SHA-1" in r.stdout, "the output must say that SHA-1 pins need new firmware"
        for n in keys:
            assert pubkey(d / f"{n}.pem") == keys[n], f"{n}: a renewal changed the public key"
            assert fingerprint(d / f"{n}.pem") != fps[n], f"{n}: a renewal kept the certificate"
            openssl_ok("verify", "-CAfile", d / "ca.pem", d / f"{n}.pem")
        r = issue(srv, "--new-key", "--no-rsa")
        assert "key: new" in r.stdout, r.describe()
        assert pubkey(d / "server.pem") != keys["server"], "--new-key kept the key"
        assert pubkey(d / "server-rsa.pem") == keys["server-rsa"], "--no-rsa touched the RSA pair"
        assert "server-rsa.pem" in r.stderr, "the stale RSA certificate must be mentioned"
        assert mode(d / "server.key") == 0o600


def test_tls_export_header_compiles_and_matches_openssl():
    with Server() as srv:
        srv.cli_ok("tls", "ca", "init")
        issue(srv)
        d = tls_dir(srv)
        header = srv.cli_ok("tls", "export", "--format", "header").stdout
        for name in ("OTAD_FLEET_CA", "OTAD_SERVER_SHA1", "OTAD_SERVER_PUBKEY", "OTAD_SERVER_RSA_SHA1",
                     "OTAD_SERVER_RSA_PUBKEY", "setTrustAnchors", "setKnownKey", "setFingerprint",
                     "setCACert"):
            assert name in header, f"the header lacks {name}"
        sha1 = fingerprint(d / "server.pem")
        m = re.search(r"OTAD_SERVER_SHA1\[20\] = \{([^}]*)\}", header)
        assert m, header
        got = ":".join(b.strip()[2:] for b in m.group(1).split(",") if b.strip())
        assert got == sha1, f"header SHA-1 {got} != openssl {sha1}"
        with tempfile.TemporaryDirectory() as w:
            w = Path(w)
            (w / "otad_tls.h").write_text(header)
            (w / "main.c").write_text(
                '#include <stdio.h>\n#include <string.h>\n#include "otad_tls.h"\n'
                "int main(void)\n{\n"
                "    fputs(OTAD_FLEET_CA, stdout);\n"
                "    return sizeof(OTAD_SERVER_SHA1) == 20 && strlen(OTAD_SERVER_PUBKEY) > 0 &&\n"
                "           OTAD_SERVER_RSA_SHA256[0] == OTAD_SERVER_RSA_SHA256[0] ? 0 : 1;\n}\n")
            for compiler in (["c++", "-std=c++11", "-x", "c++"], ["cc", "-std=gnu11"]):
                if not shutil.which(compiler[0]):
                    continue
                r = subprocess.run(compiler + ["-Wall", "-Werror", "-o", str(w / "prog"), str(w / "main.c")],
                                   capture_output=True, timeout=120)
                assert r.returncode == 0, f"{compiler[0]}: {r.stderr.decode(errors='replace')}"
                run = subprocess.run([str(w / "prog")], capture_output=True, timeout=30)
                assert run.returncode == 0 and run.stdout == (d / "ca.pem").read_bytes(), \
                    "the header's CA is not ca.pem"

        lines = srv.cli_ok("tls", "export", "--format", "fingerprint").stdout.splitlines()
        assert f"SHA1 {sha1} server.pem" in lines, lines
        assert f"SHA256 {fingerprint(d / 'server.pem', 'sha256')} server.pem" in lines, lines
        assert f"SHA1 {fingerprint(d / 'server-rsa.pem')} server-rsa.pem" in lines, lines
        pem = srv.cli_ok("tls", "export", "--format", "pem").stdout
        assert pem == (d / "ca.pem").read_text(), "--format pem must print ca.pem"
        keys = srv.cli_ok("tls", "export", "--format", "pubkey").stdout
        assert pubkey(d / "server.pem") in keys and pubkey(d / "server-rsa.pem") in keys, keys
        everything = srv.cli_ok("tls", "export").stdout
        assert pem in everything and sha1 in everything and pubkey(d / "server.pem") in everything


def make_public_chain(work):
    """A root, an intermediate and an RSA leaf for ota.example.org, by the openssl command line."""
    w = str(work)
    openssl_ok("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", f"{w}/root.key", "-out", f"{w}/root.pem", "-subj", "/CN=Public Root",
               "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
               "-addext", "keyUsage=critical,keyCertSign")
    openssl_ok("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", f"{w}/int.key", "-out", f"{w}/int.csr", "-subj", "/CN=Public Intermediate")
    (work / "int.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
    openssl_ok("x509", "-req", "-in", f"{w}/int.csr", "-CA", f"{w}/root.pem", "-CAkey", f"{w}/root.key",
               "-CAcreateserial", "-out", f"{w}/int.pem", "-days", "30", "-extfile", f"{w}/int.ext")
    openssl_ok("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{w}/leaf.key", "-out", f"{w}/leaf.csr",
               "-subj", "/CN=ota.example.org")
    (work / "leaf.ext").write_text("subjectAltName=DNS:ota.example.org\nextendedKeyUsage=serverAuth\n")
    openssl_ok("x509", "-req", "-in", f"{w}/leaf.csr", "-CA", f"{w}/int.pem", "-CAkey", f"{w}/int.key",
               "-CAcreateserial", "-out", f"{w}/leaf.pem", "-days", "30", "-extfile", f"{w}/leaf.ext")
    (work / "fullchain.pem").write_text((work / "leaf.pem").read_text() + (work / "int.pem").read_text())
    os.chmod(work / "leaf.key", 0o640)


def test_tls_import_takes_a_public_certificate_as_it_is():
    with Server() as srv, tempfile.TemporaryDirectory() as w:
        w = Path(w)
        make_public_chain(w)
        d = tls_dir(srv)
        r = srv.cli("tls", "cert", "--import", str(w / "fullchain.pem"), "--key", str(w / "int.key"))
        assert r.code == 1 and "not the key" in r.stderr, r.describe()
        assert not (d / "server.pem").exists() and not (d / "server.key").exists(), "a refused import wrote files"
        r = srv.cli("tls", "cert", "--import", str(w / "fullchain.pem"), "--key", str(w / "leaf.key"), "--host", "x")
        assert r.code == 2, r.describe()

        srv.cli_ok("tls", "cert", "--import", str(w / "fullchain.pem"), "--key", str(w / "leaf.key"))
        assert (d / "server.pem").read_text() == (w / "fullchain.pem").read_text()
        assert mode(d / "server.key") == 0o600, oct(mode(d / "server.key"))
        openssl_ok("verify", "-CAfile", w / "root.pem", "-untrusted", w / "int.pem", d / "server.pem")
        assert openssl_ok("pkey", "-in", d / "server.key", "-pubout") == pubkey(w / "leaf.pem")

        # No fleet CA: the chain's top is the trust anchor, and stderr says so.
        r = srv.cli_ok("tls", "export", "--format", "pem")
        assert r.stdout == (w / "int.pem").read_text(), r.describe()
        assert "no fleet CA" in r.stderr and "Public Intermediate" in r.stderr, r.describe()
        header = srv.cli_ok("tls", "export", "--format", "header").stdout
        assert "Not an otad fleet CA" in header and "OTAD_SERVER_RSA" not in header
        assert fingerprint(d / "server.pem").replace(":", ", 0x") in header.replace("\n    ", " "), \
            "the header's SHA-1 is not the leaf's"
        r = srv.cli_ok("tls", "show")
        assert "server.key matches" in r.stdout and "no fleet CA" in r.stdout, r.describe()

        # --rsa puts an RSA certificate in the RSA place; an ECDSA one is refused there.
        srv.cli_ok("tls", "cert", "--import", str(w / "fullchain.pem"), "--key", str(w / "leaf.key"), "--rsa")
        assert (d / "server-rsa.pem").exists() and mode(d / "server-rsa.key") == 0o600
        r = srv.cli("tls", "cert", "--import", str(w / "int.pem"), "--key", str(w / "int.key"), "--rsa")
        assert r.code == 1, r.describe()


def test_tls_show_and_usage():
    with Server() as srv:
        r = srv.cli("tls", "cert", "--host", "ota.example.net")
        assert r.code == 1 and "otad tls ca init" in r.stderr, f"no CA yet: {r.describe()}"
        srv.cli_ok("tls", "ca", "init")
        for args in (["tls", "cert"], ["tls", "cert", "--host", "a", "--ca-cert", "x"],
                     ["tls", "export", "--format", "nope"], ["tls", "frobnicate"], ["tls"],
                     ["tls", "cert", "--host", "a", "--days", "0"], ["tls", "ca"]):
            r = srv.cli(*args)
            assert r.code == 2, f"usage error must exit 2: {r.describe()}"
        r = srv.cli("tls", "cert", "--host", "bad_name")
        assert r.code == 1 and "bad_name" in r.stderr, r.describe()
        r = srv.cli("tls", "export")
        assert r.code == 1 and "otad tls cert" in r.stderr, f"export without a server certificate: {r.describe()}"

        issue(srv)
        r = srv.cli_ok("tls", "show")
        assert r.stdout.count("chain: verifies to ca.pem") == 2, r.describe()
        assert r.stdout.count("matches") == 3, r.describe()
        assert "DNS:ota.example.net" in r.stdout and fingerprint(tls_dir(srv) / "server.pem") in r.stdout

        # A key that is not the certificate's: show says so and exits 1.
        d = tls_dir(srv)
        shutil.copy(d / "ca.key", d / "server.key")
        r = srv.cli("tls", "show")
        assert r.code == 1 and "not the key" in r.stdout, r.describe()
