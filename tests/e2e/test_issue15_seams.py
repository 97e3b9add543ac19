"""Where issue 15's parts meet (the ESP-IDF check-in, Secure Boot v2 forms, the manifests
and the anti-rollback floor), against the real daemon: what a device is told and what the
URL it is pointed at serves must be the same bytes, of a form that device boots, and a URL
built from the request's Host must not send the device anywhere else."""

from devices import IdfClient, idf_update
from test_idf_checkin import app_for, idf_image, published, update_path


def redirect_with_host(srv, app, host):
    client = IdfClient(srv.port, update_path("?answer=redirect"), app)
    client.headers = [(n, host if n == "Host" else v) for n, v in client.headers]
    try:
        return client.request("GET")
    finally:
        client.close()


def test_redirect_refuses_a_host_that_is_no_host():
    """?answer=redirect builds Location from Host: a path, a userinfo '@' or a fragment in it
    would send the device to another server or path, so it is 400, as the manifests answer."""
    with Server() as srv:
        rel = published(srv, ("1.0.0", {"seed": 1}), ("1.1.0", {"seed": 2}))
        app = app_for(rel["1.0.0"][1], version="1.0.0")
        for host in ("evil.example/x?", "evil.example#", f"127.0.0.1:{srv.port}@evil.example",
                     "evil.example\\x"):
            resp, body = redirect_with_host(srv, app, host)
            assert resp.status == 400, (host, resp.status, resp.getheader("Location"), body)
            assert b"Host" in body, body
        # A name, an address with a port, an IPv6 literal: the 302 names them as sent.
        for host in ("ota.example", f"127.0.0.1:{srv.port}", f"[::1]:{srv.port}"):
            resp, body = redirect_with_host(srv, app, host)
            assert resp.status == 302, (host, resp.status, body)
            assert resp.getheader("Location") == f"http://{host}/images/idf/1.1.0", host
