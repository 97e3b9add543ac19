"""Certificates and HTTPS clients for the TLS end-to-end tests.

What it owns: a throwaway CA and server certificates made with the openssl
command (independent of otad's own `otad tls`, so a bug there cannot hide
a bug in the server), Python ssl contexts that verify against that CA, and
reading the certificate a server presents. Everything on 127.0.0.1; every
subprocess has a timeout. Python standard library and the openssl command.
"""

import hashlib
import os
import socket
import ssl
import subprocess
from pathlib import Path

HOST = "127.0.0.1"
SERVER_NAME = "otad.test"  # the DNS name in every server certificate made here
OPENSSL_TIMEOUT_S = 30


def _openssl(*args, cwd=None, input=None):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=OPENSSL_TIMEOUT_S,
                          input=input)
    assert proc.returncode == 0, f"openssl {' '.join(args)}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def make_ca(folder, name="otad e2e CA"):
    """An ECDSA P-256 CA in FOLDER (ca.pem, ca.key); returns (cert, key) paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = folder / "ca.key", folder / "ca.pem"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    _openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={name}", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign", "-out", str(cert))
    return cert, key


def issue(ca, folder, stem, *, rsa=False, days=30, hosts=(SERVER_NAME,), ips=(HOST,)):
    """A server certificate under CA ((cert, key) paths) as FOLDER/STEM.pem (leaf then CA) and
    FOLDER/STEM.key (mode 0600); returns (chain, key) paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key, csr, leaf, chain = (folder / f"{stem}.key", folder / f"{stem}.csr", folder / f"{stem}.leaf",
                             folder / f"{stem}.pem")
    if rsa:
        _openssl("genrsa", "-out", str(key), "2048")
    else:
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    os.chmod(key, 0o600)
    _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={hosts[0]}", "-out", str(csr))
    ext = folder / f"{stem}.ext"
    san = ",".join([f"DNS:{h}" for h in hosts] + [f"IP:{i}" for i in ips])
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", str(days), "-extfile", str(ext), "-out", str(leaf))
    chain.write_bytes(leaf.read_bytes() + Path(ca[0]).read_bytes())
    for f in (csr, ext, leaf):
        f.unlink()
    return chain, key


def install_default(data_dir, ca, *, rsa=True):
    """Issues DATA_DIR/tls/server.pem (ECDSA) and, with RSA, server-rsa.pem: the files otad
    serves when no tls_cert is given. Returns the tls folder."""
    folder = Path(data_dir) / "tls"
    issue(ca, folder, "server")
    if rsa:
        issue(ca, folder, "server-rsa", rsa=True)
    return folder


def context(cafile, *, version=None, ciphers=None, tickets=True):
    """A verifying client context for CAFILE; VERSION pins one (ssl.TLSVersion)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def presented(port, cafile, *, ciphers=None, version=ssl.TLSVersion.TLSv1_2):
    """(SHA-256 of the leaf the server presents, the negotiated cipher name) after a handshake."""
    ctx = context(cafile, version=version, ciphers=ciphers)
    with socket.create_connection((HOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s:
            der = s.getpeercert(binary_form=True)
            return hashlib.sha256(der).hexdigest(), s.cipher()[0]


def leaf_sha256(chain_path):
    """SHA-256 of the first certificate (DER) in a PEM chain file."""
    pem = Path(chain_path).read_text()
    first = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def s_client(port, cafile, *args, input=b"", timeout=20, raw=False):
    """Runs `openssl s_client` against 127.0.0.1:PORT; returns its stdout+stderr as text, or with
    RAW its stdout as bytes (with -quiet: exactly what the server sent inside TLS)."""
    argv = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", SERVER_NAME,
            "-CAfile", str(cafile), *args]
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
    if raw:
        return proc.stdout
    return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
