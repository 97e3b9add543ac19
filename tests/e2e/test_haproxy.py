"""Two otad nodes behind a real HAProxy whose backend is dist/haproxy/otad.cfg's
(tests/tools/haproxy.py reads it; docs/OPERATIONS.md, "Several nodes on PostgreSQL"):
a device's check-in, image download and Range request through the balancer
get the answers a node gives directly, both nodes take a share, and a node
stopped with SIGTERM is marked DOWN (its grace period closes the health
checks unanswered) while check-ins keep working through the other node.

The nodes run on SQLite here, each with the same product and release added
through its own CLI: the balancer's side does not depend on the backend."""

import contextlib
import socket
import subprocess
import sys
import threading
import time

import devices
from devices import Device
from harness import REPO, Server, assert_image, assert_not_modified, assert_status, exchange, make_image

sys.path.insert(0, str(REPO / "tests" / "tools"))
import haproxy  # noqa: E402  (tests/tools is not a package)

VERSION = "1.0.0"
DOWN_WITHIN_S = 4.0          # checks every 500 ms, down after 2 failures: about 1 s, with room for a busy machine
SHUTDOWN_BOUND_S = 10.0      # the node's 5 s grace, then it must be gone


def door_image():
    return make_image("esp8266", 300_000, seed=31, flash_size="4M")


def big_image():
    # Larger than loopback's socket buffers, so a reader that stops keeps the node's grace period open.
    return make_image("esp8266", 8 * 1024 * 1024, seed=32, flash_size="16M")


@contextlib.contextmanager
def two_nodes_behind_haproxy():
    """Two started nodes with product door (VERSION) and HAProxy in front, both UP. Yields (nodes, hp, image)."""
    image = door_image()
    with Server(name="node1") as node1, Server(name="node2") as node2:
        for node in (node1, node2):
            node.add_product("door", "esp8266")
            node.add_release("door", image, VERSION)
            # Only node1 needs it: a download that holds node1's grace period open.
            if node is node1:
                node.add_product("big", "esp8266")
                node.add_release("big", big_image(), "2.0.0")
            node.start()
        with haproxy.Haproxy([("node1", node1.port), ("node2", node2.port)]) as hp:
            hp.wait_state("node1", "UP")
            hp.wait_state("node2", "UP")
            yield (node1, node2), hp, image.read_bytes()


def up_to_date(port, n):
    """A check-in of device N already running VERSION (its sketch MD5 matches nothing we serve)."""
    return devices.esp8266("/update/door", port, Device(sta_mac=devices.mac(n), version=VERSION,
                                                        sketch_md5="0" * 32))


def outdated(port, n):
    return devices.esp8266("/update/door", port, Device(sta_mac=devices.mac(n), version="0.9.0",
                                                        sketch_md5="0" * 32))


def ranged(port, first, last):
    return (f"GET /images/door/{VERSION} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nRange: bytes={first}-{last}\r\n"
            f"Connection: close\r\n\r\n").encode()


def assert_same_answer(direct, proxied, what):
    """The balancer passes a node's answer through: status, the headers a device reads, the body."""
    assert proxied.status == direct.status, f"{what}: direct {direct.describe()}, through haproxy {proxied.describe()}"
    for name in ("content-length", "content-type", "x-md5", "x-version", "content-range", "accept-ranges", "etag"):
        assert proxied.header_values(name) == direct.header_values(name), \
            f"{what}: {name} direct {direct.header_values(name)}, through haproxy {proxied.header_values(name)}"
    assert proxied.header("transfer-encoding") is None, f"{what}: chunked through haproxy: {proxied.describe()}"
    assert proxied.body == direct.body, f"{what}: body differs through haproxy"


def slow_download(node):
    """A check-in on NODE (directly) for the 8 MiB image that reads only the head; returns the socket."""
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    dev = Device(version="1.0.0", sketch_md5="0" * 32, free_space=16 << 20, chip_size=16 << 20)
    s.sendall(devices.esp8266("/update/big", node.port, dev))
    head = s.recv(4096)
    assert b" 200 " in head.split(b"\r\n")[0], f"expected a 200 image: {head[:200]!r}"
    return s


def test_the_dist_example_is_valid_haproxy_configuration():
    for text in (haproxy.EXAMPLE.read_text(), tls_passthrough_enabled(haproxy.EXAMPLE.read_text())):
        path = haproxy.scratch_config(text)
        r = subprocess.run([haproxy.haproxy_bin(), "-c", "-f", str(path)], capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        assert r.returncode == 0 and "Configuration file is valid" in out, f"haproxy -c on the example: {out}"
        assert "[WARNING]" not in out, f"haproxy -c warns about the example: {out}"


def tls_passthrough_enabled(text):
    """The example with its commented TLS passthrough sections uncommented."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("# frontend ") or line.startswith("# backend "):
            inside = True
        elif not line.startswith("#"):
            inside = False
        if inside and line.startswith("# "):
            line = line[2:]
        elif inside and line == "#":
            line = ""
        out.append(line)
    enabled = "\n".join(out) + "\n"
    assert "frontend otad_https" in out and "backend otad_tls" in out, "no TLS passthrough sections to uncomment"
    return enabled


def test_answers_through_haproxy_match_a_node_and_both_nodes_serve():
    with two_nodes_behind_haproxy() as ((node1, node2), hp, image):
        direct_304 = exchange(node1.port, up_to_date(node1.port, 1))
        assert_not_modified(direct_304, "up-to-date device, directly")
        proxied_304 = exchange(hp.port, up_to_date(hp.port, 1))
        assert_not_modified(proxied_304, "up-to-date device through haproxy")
        assert proxied_304.closed, "haproxy kept an HTTP/1.0 Connection: close check-in open"

        direct_200 = exchange(node2.port, outdated(node2.port, 2))
        assert_image(direct_200, image, VERSION, "outdated device, directly")
        proxied_200 = exchange(hp.port, outdated(hp.port, 2))
        assert_image(proxied_200, image, VERSION, "outdated device through haproxy")
        assert_same_answer(direct_200, proxied_200, "image")

        direct_206 = exchange(node1.port, ranged(node1.port, 1000, 4999))
        assert_status(direct_206, 206, "Range, directly")
        proxied_206 = exchange(hp.port, ranged(hp.port, 1000, 4999))
        assert_same_answer(direct_206, proxied_206, "Range bytes=1000-4999")
        assert proxied_206.body == image[1000:5000], "Range through haproxy: wrong bytes"

        # leastconn goes round among nodes with equal load: sequential check-ins reach both.
        before = hp.stats()
        for n in range(10, 20):
            assert_not_modified(exchange(hp.port, up_to_date(hp.port, n)), f"check-in {n} through haproxy")
        after = hp.stats()
        served = {name: after[name]["stot"] - before[name]["stot"] for name in ("node1", "node2")}
        assert all(count >= 3 for count in served.values()), f"leastconn should share 10 check-ins: {served}"
        assert after["node1"]["status"] == "UP" and after["node2"]["status"] == "UP", after


def test_a_node_stopped_with_sigterm_goes_down_and_the_other_answers():
    with two_nodes_behind_haproxy() as ((node1, node2), hp, image):
        held = slow_download(node1)        # keeps node1 in its grace period for up to 5 s
        stopped = []
        try:
            stopper = threading.Thread(target=lambda: stopped.append(_stop(node1)))
            stopper.start()
            # From the signal on, node1 closes new connections unanswered: health checks
            # fail and every check-in is retried on node2 before and after node1 is DOWN.
            answered = 0
            deadline = time.monotonic() + DOWN_WITHIN_S
            while hp.state("node1") != "DOWN":
                assert time.monotonic() < deadline, \
                    f"node1 not DOWN {DOWN_WITHIN_S:.0f}s after SIGTERM: {hp.stats()['node1']}; {hp.log_tail()}"
                n = 100 + answered
                request = outdated(hp.port, n) if n % 2 else up_to_date(hp.port, n)
                resp = exchange(hp.port, request)
                if n % 2:
                    assert_image(resp, image, VERSION, f"check-in {n} while node1 drains")
                else:
                    assert_not_modified(resp, f"check-in {n} while node1 drains")
                answered += 1
            assert node1.running(), "node1 exited before it was DOWN: the drain was not what took it out"
            assert answered >= 1, "no check-in was sent while node1 drained"

            served_before = hp.stats()["node2"]["stot"]
            for n in range(200, 210):
                assert_not_modified(exchange(hp.port, up_to_date(hp.port, n)), f"check-in {n} with node1 DOWN")
            served = hp.stats()["node2"]["stot"] - served_before
            assert served == 10, f"node2 should have taken all 10 check-ins with node1 DOWN, took {served}"
            direct = exchange(node2.port, ranged(node2.port, 0, 99))
            assert_same_answer(direct, exchange(hp.port, ranged(hp.port, 0, 99)), "Range with node1 DOWN")
        finally:
            held.close()
            stopper.join(SHUTDOWN_BOUND_S + 5)
        assert stopped == ["ok"], f"node1 did not stop cleanly: {stopped}"
        assert hp.state("node1") == "DOWN", "node1 came back UP after it exited"


def _stop(node):
    """Server.stop from a thread: returns "ok" or the failure, so the test thread can assert it."""
    try:
        node.stop(timeout=SHUTDOWN_BOUND_S)
        return "ok"
    except AssertionError as e:
        return str(e)
