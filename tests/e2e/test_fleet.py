"""Fleet control against the real daemon (docs/FLEET.md): the download cap
under many concurrent devices, a body cut off counted as interrupted and a
whole one as served, and a SIGKILL in the middle of a rollout.

Devices are stock ESP8266 cores (devices.py) over raw sockets; the
operator's side is the CLI on the same data folder (the daemon sees its
writes within a second)."""

import socket

from devices import Device, esp8266, mac
from harness import HOST, Server, make_image, md5_hex, wait_until

IMAGE = 4 * 1024 * 1024  # large enough that a reader who stops fills the socket buffers


def publish(srv, version, seed):
    path = make_image("esp8266", IMAGE, seed=seed, flash_size="4M")
    srv.add_release("demo", path, version)
    return path.read_bytes()


def device(n, version="1.0.0"):
    return Device(sta_mac=mac(n), version=version, sketch_md5=md5_hex(f"old-{n}".encode()),
                  free_space=8 * 1024 * 1024)


class SlowReader:
    """A device that sends its check-in, reads the head, and then reads nothing: its body
    stays in flight. A tiny receive buffer keeps the server from finishing the send."""

    def __init__(self, port, request):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((HOST, port))
        self.sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            buf += chunk
        self.head = buf.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1]) if self.head else 0

    def read_all(self):
        total = 0
        while True:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return total
            total += len(chunk)

    def close(self, reset=False):
        if self.sock.fileno() < 0:  # closed already (a finished reader is closed twice)
            return
        if reset:  # an RST, as a device losing its link mid-download looks to the server
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()


def offered_soon(srv, n, what):
    """A SlowReader for device N once its check-in is answered 200 (polled)."""
    def attempt():
        r = SlowReader(srv.port, esp8266("/update/demo", srv.port, device(n)))
        if r.status == 200:
            return r
        r.close()
        return None
    return wait_until(attempt, what=what)


def rollout_status(srv, rollout_id):
    r = srv.cli_ok("rollout", "status", "demo", str(rollout_id), "--json")
    return r.json()["rollout"]


def start_rollout_channel(srv, *plan):
    srv.cli_ok("channel", "set", "demo", "stable", "--deploy", "rollout", *plan)


def test_download_cap_holds_under_concurrent_devices():
    """Never more than N bodies in flight; a device over the cap gets 304 and is served later."""
    with Server() as srv:
        srv.add_product("demo")
        publish(srv, "1.0.0", 1)
        srv.cli_ok("product", "fleet", "demo", "--download-cap", "3")
        publish(srv, "1.1.0", 2)
        srv.start()
        readers = [SlowReader(srv.port, esp8266("/update/demo", srv.port, device(i))) for i in range(12)]
        statuses = sorted(r.status for r in readers)
        assert statuses.count(200) == 3, f"cap 3: got statuses {statuses}"
        assert statuses.count(304) == 9, f"over the cap is 304, never an error: {statuses}"
        # One body finishes: its slot is free for the next device.
        first = next(r for r in readers if r.status == 200)
        assert first.read_all() == IMAGE
        first.close()
        late = next(i for i, r in enumerate(readers) if r.status == 304)
        again = offered_soon(srv, late, "a freed slot to be given to the next device")
        statuses = [SlowReader(srv.port, esp8266("/update/demo", srv.port, device(100 + k))).status
                    for k in range(3)]
        assert 200 not in statuses, f"the cap is full again: {statuses}"
        for r in readers + [again]:
            r.close(reset=True)
        # Cut bodies give their slots back too.
        offered_soon(srv, 200, "slots of cut-off bodies to be given back").close()


def test_cut_body_is_interrupted_and_a_whole_one_served():
    with Server() as srv:
        srv.add_product("demo")
        publish(srv, "1.0.0", 1)
        start_rollout_channel(srv, "--stages", "100", "--ramp", "0")
        publish(srv, "1.1.0", 2)
        rollouts = srv.cli_ok("rollout", "list", "demo", "--json").json()["rollouts"]
        assert len(rollouts) == 1 and rollouts[0]["state"] == "running", rollouts
        rid = rollouts[0]["id"]
        srv.start()
        cut = SlowReader(srv.port, esp8266("/update/demo", srv.port, device(1)))
        assert cut.status == 200, cut.head
        cut.close(reset=True)
        whole = SlowReader(srv.port, esp8266("/update/demo", srv.port, device(2)))
        assert whole.status == 200, whole.head
        assert whole.read_all() == IMAGE
        whole.close()

        def counted():
            c = rollout_status(srv, rid)["counters"]
            return c if c["interrupted"] == 1 and c["served"] == 1 else None
        c = wait_until(counted, what="one interrupted and one served body")
        assert c["offered"] == 2 and c["interruptions"] == 1, c
        shown = srv.cli_ok("device", "show", "demo", mac(1), "--json").json()["device"]
        assert shown["standing"]["outcome"] == "interrupted", shown
        # The cut device is offered again: an interruption is not a failure.
        again = SlowReader(srv.port, esp8266("/update/demo", srv.port, device(1)))
        assert again.status == 200, again.head
        again.close()


def test_sigkill_mid_rollout_resumes_in_the_same_stage():
    """The rollout comes back in its stage with its counters; a device that failed is never
    offered the release again."""
    with Server() as srv:
        srv.add_product("demo")
        publish(srv, "1.0.0", 1)
        # Two stages, never promoted by time here; halting only far above what happens.
        start_rollout_channel(srv, "--stages", "50,100", "--ramp", "0", "--soak", "1d",
                              "--fail-percent", "90", "--fail-max", "0")
        new = publish(srv, "1.1.0", 2)
        rid = srv.cli_ok("rollout", "list", "demo", "--json").json()["rollouts"][0]["id"]
        srv.start()
        served_ok, failed = [], []
        for n in range(40):
            r = srv.send(esp8266("/update/demo", srv.port, device(n)), timeout=30)
            if r.status != 200:
                continue
            assert r.body == new
            (served_ok if len(served_ok) <= len(failed) else failed).append(n)
        assert served_ok and failed, "half the devices should be admitted at 50 %"
        for n in served_ok:  # rebooted into 1.1.0
            assert srv.send(esp8266("/update/demo", srv.port, device(n, "1.1.0").but(
                sketch_md5=md5_hex(new)))).status == 304
        for n in failed:  # came back on 1.0.0: the update did not take
            assert srv.send(esp8266("/update/demo", srv.port, device(n))).status == 304

        def settled():
            c = rollout_status(srv, rid)["counters"]
            return c if c["succeeded"] == len(served_ok) and c["failed"] == len(failed) else None
        before = wait_until(settled, what="outcomes committed")
        srv.kill()
        srv.start()
        after = rollout_status(srv, rid)
        assert after["state"] == "running" and after["stage"] == 1, after
        for key in ("offered", "succeeded", "failed", "served"):
            assert after["counters"][key] == before[key], (key, before, after["counters"])
        for n in failed:
            r = srv.send(esp8266("/update/demo", srv.port, device(n)))
            assert r.status == 304, f"device {n} failed 1.1.0 and was offered it again: {r.status}"
        shown = srv.cli_ok("device", "show", "demo", mac(failed[0]), "--json").json()["device"]
        assert shown["standing"]["outcome"] == "failed", shown
