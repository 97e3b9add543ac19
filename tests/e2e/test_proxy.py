"""The devices' real address behind a load balancer (docs/OPERATIONS.md, "The
devices' addresses behind the balancer"; docs/PROTOCOL.md, "The client's
address"): trusted_proxies names the balancers whose X-Forwarded-For otad
believes, read from the right.

Raw requests with crafted headers go to otad directly, from 127.0.0.1
listed in trusted_proxies or not; then a real HAProxy (tests/tools/
haproxy.py, option forwardfor as dist/haproxy/otad.cfg) sits between
clients on other loopback addresses (127.0.0.2, 127.0.0.3: Linux answers
the whole 127/8) and a node that trusts only 127.0.0.1, the address HAProxy
connects from. What is checked is what otad recorded: the registry's
remote_addr, the per-address admission limit, the audit log's address."""

import contextlib
import socket
import sys
import time

import devices
import tlsutil
from devices import Device
from harness import (HOST, IO_TIMEOUT_S, REPO, Response, Server, assert_status, http_request, make_image,
                     wait_until)

sys.path.insert(0, str(REPO / "tests" / "tools"))
import haproxy  # noqa: E402  (tests/tools is not a package)

SPOOFED = "203.0.113.9"     # what a client writes into its own X-Forwarded-For
CLIENT_A = "198.51.100.7"   # what a trusted balancer appended
CLIENT_B = "2001:db8:1::5"


def device(n, xff=()):
    """Device N's check-in headers with an X-Forwarded-For line per item of XFF (a string each)."""
    return Device(sta_mac=devices.mac(n), ap_mac=devices.mac(n, "1A:FE:AA"), version="1.0.0",
                  sketch_md5="0" * 32, extra=[("X-Forwarded-For", v) for v in xff])


def send_from(source, port, data, timeout=IO_TIMEOUT_S):
    """DATA to 127.0.0.1:PORT over a connection bound to SOURCE (a loopback address); the response,
    read until the server closes."""
    with socket.create_connection((HOST, port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(data)
        buf = bytearray()
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    return Response(bytes(buf), closed=True)


@contextlib.contextmanager
def door_server(args=()):
    """Product door with release 1.1.0 (every test device runs 1.0.0: each gets a 200); yields (srv, admin)."""
    with Server(args=list(args)) as srv:
        srv.add_product("door", "esp8266")
        srv.add_release("door", make_image("esp8266", 64_000, seed=81, flash_size="4M"), "1.1.0")
        admin = srv.token("admin")
        srv.start()
        yield srv, admin


def recorded(srv, token, want):
    """{MAC: remote_addr} once the registry holds WANT devices of door."""
    def enough():
        listing = srv.devices("door", token, "?limit=1000")
        return listing if listing.get("total") == want else None
    listing = wait_until(enough, what=f"{want} devices in the registry")
    return {d["mac"].upper(): d["remote_addr"] for d in listing["devices"]}


def check_in(srv, n, xff=(), source="127.0.0.1", port=None):
    port = port or srv.port
    resp = send_from(source, port, devices.esp8266("/update/door", port, device(n, xff)))
    assert_status(resp, 200, f"check-in of device {n} with X-Forwarded-For {list(xff)}")
    return resp


def malformed_count(srv, token):
    r = srv.api("GET", "/metrics", token)
    assert_status(r, 200, "GET /metrics")
    for line in r.body.decode().splitlines():
        if line.startswith("otad_http_forwarded_malformed_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no otad_http_forwarded_malformed_total in /metrics")


def test_an_untrusted_peer_is_its_own_client_whatever_it_sends():
    # The default (nobody trusted), and a list that does not hold 127.0.0.1.
    for args in ([], ["--trusted-proxies", "10.0.0.0/8, ::1"]):
        with door_server(args) as (srv, admin):
            check_in(srv, 1, [SPOOFED])
            check_in(srv, 2, [f"{SPOOFED}, {CLIENT_A}"])
            check_in(srv, 3, ["garbage"])
            got = recorded(srv, admin, 3)
            assert set(got.values()) == {"127.0.0.1"}, f"trusted_proxies {args}: addresses recorded {got}"
            assert malformed_count(srv, admin) == 0, "an untrusted peer's header is never read, so never malformed"


def test_a_trusted_peer_stands_for_the_right_most_untrusted_address():
    with door_server(["--trusted-proxies", "127.0.0.1, 10.0.0.0/8"]) as (srv, admin):
        cases = {
            1: ([CLIENT_A], CLIENT_A),
            2: ([f"{SPOOFED}, {CLIENT_A}"], CLIENT_A),          # the client's own entry is left of ours
            3: ([SPOOFED, CLIENT_A], CLIENT_A),                   # two lines are one list
            4: ([f"{SPOOFED}, {CLIENT_A}, 10.1.2.3"], CLIENT_A),  # a second trusted balancer is skipped
            5: ([f"garbage, {CLIENT_B}"], CLIENT_B),              # left of the client is never read
            6: (["10.9.9.9, 127.0.0.1"], "10.9.9.9"),             # all trusted: the left-most
            7: ([], "127.0.0.1"),                                 # a request of the balancer's own
            8: ([f"::ffff:{CLIENT_A}"], CLIENT_A),
        }
        for n, (xff, _) in cases.items():
            check_in(srv, n, xff)
        got = recorded(srv, admin, len(cases))
        want = {devices.mac(n): addr for n, (_, addr) in cases.items()}
        assert got == want, f"addresses recorded (got, want): " \
                            f"{ {m: (got.get(m), a) for m, a in want.items() if got.get(m) != a} }"

        # The audit log (and the sign-in guard behind it) sees the client too: a failed sign-in.
        r = srv.api("POST", "/api/v1/session", json_body={"token": "otad_" + "1" * 64},
                    headers=[("X-Forwarded-For", f"{SPOOFED}, {CLIENT_B}")])
        assert_status(r, 401, "a bad token through the balancer")
        r = srv.api("GET", "/api/v1/audit?limit=1", admin)
        assert_status(r, 200, "GET /api/v1/audit")
        entry = r.json()["entries"][0]
        assert entry["action"] == "session.sign_in" and entry["actor"]["address"] == CLIENT_B, entry


def test_a_malformed_header_falls_back_to_the_peer_counted_and_logged_once():
    with door_server(["--trusted-proxies", "127.0.0.1"]) as (srv, admin):
        bad = [f"{CLIENT_A}:4711", "unknown", f"[{CLIENT_B}]", f"for={CLIENT_A}", f"{CLIENT_A}, junk"]
        for n, value in enumerate(bad, start=1):
            check_in(srv, n, [value])  # answered as usual
        got = recorded(srv, admin, len(bad))
        assert set(got.values()) == {"127.0.0.1"}, f"a malformed header must leave the peer's address: {got}"
        assert malformed_count(srv, admin) == len(bad)
        # An upload (read over several calls) is one request, counted once; its audit entry
        # has the peer's address.
        body = make_image("esp8266", 64_000, seed=83, flash_size="4M").read_bytes()
        r = srv.api("POST", "/api/v1/products/door/releases?version=1.2.0", admin, body=body,
                    headers=[("Content-Type", "application/octet-stream"), ("X-Forwarded-For", "unknown")])
        assert_status(r, 201, "an upload with a malformed X-Forwarded-For")
        assert malformed_count(srv, admin) == len(bad) + 1
        r = srv.api("GET", "/api/v1/audit?limit=1", admin)
        entry = r.json()["entries"][0]
        assert entry["action"] == "release.publish" and entry["actor"]["address"] == "127.0.0.1", entry
        log = srv.log()
        assert log.count("x-forwarded-for from trusted proxy") == 1, \
            f"one warning a minute, not one per request: {log}"
        assert f"{CLIENT_A}:4711" in log, log


def test_admission_counts_each_address_behind_a_trusted_peer():
    # Two new devices a minute per address. From one peer (127.0.0.1) that is the balancer:
    # the limit must apply per address it names, not to the fleet as one client.
    with door_server(["--trusted-proxies", "127.0.0.1",
                      "--registry-new-devices-per-ip-per-minute", "2"]) as (srv, admin):
        for n in range(1, 4):
            check_in(srv, n, [CLIENT_A])          # the third: answered, not recorded
        for n in range(11, 14):
            check_in(srv, n, [f"{CLIENT_A}, {CLIENT_B}"])  # CLIENT_B's own two
        time.sleep(1)  # several flushes (registry_flush_ms 250): the refused ones stay out
        got = recorded(srv, admin, 4)
        assert sorted(got.values()) == sorted([CLIENT_A, CLIENT_A, CLIENT_B, CLIENT_B]), got
        log = srv.log()
        assert "registry_new_devices_per_ip_per_minute" in log, log
        assert f'last from "{CLIENT_A}"' in log or f'last from "{CLIENT_B}"' in log, log


def test_the_https_listener_never_reads_the_header():
    # TLS passthrough: a balancer cannot add a header to a stream it does not read, so on the
    # HTTPS listener the header is the device's own, even from a trusted peer.
    with Server(args=["--trusted-proxies", "127.0.0.1"]) as srv:
        srv.add_product("door", "esp8266")
        srv.add_release("door", make_image("esp8266", 64_000, seed=82, flash_size="4M"), "1.1.0")
        admin = srv.token("admin")
        ca = tlsutil.make_ca(srv.tmp / "ca")
        tlsutil.install_default(srv.data_dir, ca, rsa=False)
        srv.start(["--listen-tls", f"{HOST}:0"])
        resp = srv.send_tls(devices.esp8266("/update/door", srv.tls_port, device(1, [CLIENT_A])),
                            tlsutil.context(ca[0]))
        assert_status(resp, 200, "check-in over HTTPS")
        check_in(srv, 2, [CLIENT_A])  # the plain listener, for contrast
        got = recorded(srv, admin, 2)
        assert got == {devices.mac(1): "127.0.0.1", devices.mac(2): CLIENT_A}, got


def test_through_haproxy_the_address_haproxy_appends_is_recorded_not_the_spoofed_one():
    # The node trusts 127.0.0.1 only: HAProxy's own address towards it. Clients reach HAProxy
    # from 127.0.0.2 and 127.0.0.3, so what HAProxy appends is not trusted and is the client.
    with door_server(["--trusted-proxies", "127.0.0.1", "--max-connections-per-ip", "0",
                      "--registry-new-devices-per-ip-per-minute", "2"]) as (srv, admin):
        with haproxy.Haproxy([("node1", srv.port)]) as hp:
            hp.wait_state("node1", "UP")
            # Every device spoofs another address: were the left-most believed, each would be a
            # new address with room for it, and all six would be recorded.
            for n in range(1, 4):
                check_in(srv, n, [f"{SPOOFED[:-1]}{n}"], source="127.0.0.2", port=hp.port)
            for n in range(11, 14):
                check_in(srv, n, [f"{SPOOFED[:-1]}{n}"], source="127.0.0.3", port=hp.port)
            time.sleep(1)
            got = recorded(srv, admin, 4)
            assert sorted(got.values()) == ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"], \
                f"through haproxy, two devices per real address and no spoofed one: {got}"
            assert malformed_count(srv, admin) == 0, "HAProxy's header must read as well-formed"
