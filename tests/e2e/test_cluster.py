"""Several otad nodes on one PostgreSQL database behind a real HAProxy (issue 13;
docs/OPERATIONS.md, "Several nodes on PostgreSQL"): a publish on one node is offered
by every node within a second; a device storm across the nodes is counted exactly
in the registry; a staged rollout whose devices check in on different nodes counts
exactly what they did; a node killed with SIGKILL in the middle of downloads and of
a publish leaves no partial release while the others keep answering; when the
leader is killed another node takes its jobs; PostgreSQL stopped for 30 s under
load loses no check-in; two nodes starting together on an empty database apply
each migration once.

Each test starts its own throwaway PostgreSQL 15 (tests/tools/pgcluster.py), one
database shared by its nodes, and HAProxy (tests/tools/haproxy.py) in front of
them, all on 127.0.0.1, and stops everything when it ends. These tests do not
read OTAD_TEST_POSTGRESQL: they need a cluster of their own, which they stop and
start. Without PostgreSQL 15 or HAProxy installed every test fails, saying so
(sh scripts/deps installs both). Measured figures (publish to offered, leader
failover, catch-up after an outage) are printed on stderr as `cluster: ...`.

Device check-ins are the stock ESP8266 client's bytes (devices.py) over raw
sockets; a device "on" a node sends to that node's port directly, a device
"through HAProxy" to the balancer's."""

import concurrent.futures
import contextlib
import socket
import sys
import threading
import time

import devices
import harness
from devices import Device
from test_fleet import SlowReader  # a device that stops reading its image
from harness import (HOST, REPO, Server, assert_api_error, assert_image, assert_not_modified, assert_status,
                     exchange, http_request, make_image, md5_hex, sha256_hex, wait_until)

sys.path.insert(0, str(REPO / "tests" / "tools"))
import haproxy  # noqa: E402  (tests/tools is not a package)
import pgcluster  # noqa: E402

PRODUCT = "door"
OFFERED_WITHIN_S = 1.0      # issue 13: a publish on one node is offered by every node within a second
LEADER_WITHIN_S = 5.0       # docs/OPERATIONS.md: "another node has the jobs within about a second"
OUTAGE_S = 30.0             # issue 13: PostgreSQL stopped for 30 s under load
CATCH_UP_WITHIN_S = 10.0    # the held batch is retried every flush interval once the database is back
REBOOT_S = 2.0             # a device's download to its next check-in (test 3), over a node's 1 s beat
FLUSH_WITHIN_S = 10.0       # the registry commits every 250 ms; room for an ASan build on a busy box
# Behind a balancer every device comes from one address: the per-address bounds are off
# (docs/OPERATIONS.md, "One address").
NODE_ARGS = ["--max-connections-per-ip", "0", "--registry-new-devices-per-ip-per-minute", "0"]


def report(text):
    """A measured figure, for the run's log (run.py prints only ok/FAIL lines on stdout)."""
    print(f"cluster: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The cluster


class Cluster:
    """A PostgreSQL, nodes on its one database, and HAProxy in front of the started ones."""

    def __init__(self, pg, url, nodes):
        self.pg = pg
        self.url = url
        self.nodes = nodes
        self.hp = None
        self.admin = None

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def sql(self, query):
        return self.nodes[0].sql(query)

    def sql_value(self, query):
        rows = self.sql(query)
        assert len(rows) == 1 and len(rows[0]) == 1, f"{query}: expected one value, got {rows}"
        return rows[0][0]

    def leaders(self):
        """Names of the nodes whose row in `nodes` says they lead."""
        return [r[0] for r in self.sql("SELECT name FROM nodes WHERE leader_since_ms IS NOT NULL ORDER BY name")]


def pg_cluster(settings=None):
    """A started PgCluster; the failure says clearly when PostgreSQL 15 is missing."""
    try:
        return pgcluster.PgCluster(settings=settings).start()
    except pgcluster.PgMissing as e:
        raise AssertionError(f"PostgreSQL 15 is needed for the cluster tests: {e}") from None


def make_node(name, url, args=()):
    """A Server named NAME on database URL (its CLI too: base_args adds --database)."""
    node = Server(name=name, args=["--node-name", name] + NODE_ARGS + list(args))
    if node.database_name:
        # Under e2e-pg the harness gave the node a database of its own in the stage's cluster:
        # unused here, it goes back to the harness's spares, and the node's exit leaves this
        # test's database alone (the harness would empty it and hand it to later servers).
        harness._spare_databases.append((node.database_name, node.database_url))
        node.database_name = None
    node.database_url = url
    return node


@contextlib.contextmanager
def cluster(count=3, *, setup=None, pg_settings=None, node_args=()):
    """COUNT nodes n1..nN on one new database, HAProxy in front of them, all UP. SETUP(c) runs
    before the nodes start (n1's CLI: products, releases, tokens). Yields the Cluster."""
    with contextlib.ExitStack() as stack:
        pg = pg_cluster(pg_settings)
        stack.callback(pg.stop)
        url = pg.create_database()
        stack.callback(harness.postgresql_forget, url)  # srv.sql's kept connection, before the stop
        nodes = [stack.enter_context(make_node(f"n{i + 1}", url, node_args)) for i in range(count)]
        c = Cluster(pg, url, nodes)
        c.admin = nodes[0].token("admin", name="ops")
        if setup:
            setup(c)
        for node in nodes:
            node.start()
        c.hp = stack.enter_context(haproxy.Haproxy([(n.name, n.port) for n in nodes]))
        for node in nodes:
            c.hp.wait_state(node.name, "UP")
        yield c


def current_device(n, version="1.0.0"):
    """Device N on VERSION (its sketch MD5 matches nothing, so its version decides), 16 MiB of flash."""
    return Device(sta_mac=devices.mac(n), version=version, sketch_md5="0" * 32, free_space=16 << 20,
                  chip_size=16 << 20)


def checkin(port, dev):
    return exchange(port, devices.esp8266(f"/update/{PRODUCT}", port, dev))


class Load:
    """Check-ins through the balancer from WORKERS threads until stop(): worker W's devices are
    W * 1000 + 0..49, in turn. With IMAGE (bytes of VERSION), odd devices run OLD_VERSION and
    must get the image, even ones run VERSION and must get 304; without, every device is
    current. .sent: {device: check-ins answered right}; .errors: the first wrong answer of each
    worker (its thread stops there); .during: answers while .phase was "during"."""

    def __init__(self, port, version, image=None, old_version=None, workers=4, pause_s=0.005):
        self.port, self.version, self.image, self.old_version = port, version, image, old_version
        self.pause_s = pause_s
        self.sent = {}
        self.errors = []
        self.phase = "before"
        self.during = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(workers)]
        for th in self._threads:
            th.start()

    def _run(self, worker):
        k = 0
        while not self._stop.is_set():
            n = worker * 1000 + k % 50
            k += 1
            outdated = self.image is not None and n % 2 == 1
            dev = current_device(n, self.old_version if outdated else self.version)
            phase = self.phase
            try:
                r = checkin(self.port, dev)
                if outdated:
                    assert_image(r, self.image, self.version, f"outdated device {n}")
                else:
                    assert_not_modified(r, f"current device {n}")
            except (AssertionError, OSError) as e:
                self.errors.append(f"{phase} ({self.phase} when answered): {e}")
                return
            with self._lock:
                self.sent[n] = self.sent.get(n, 0) + 1
                self.during += phase == "during" and self.phase == "during"
            time.sleep(self.pause_s)

    def answered(self):
        with self._lock:
            return sum(self.sent.values())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        """Stops the threads (safe to call twice)."""
        self._stop.set()
        for th in self._threads:
            th.join(30)
        assert not any(th.is_alive() for th in self._threads), "a load thread did not stop"


def publish_raw(node, token, data, version, timeout=30):
    """POST the image to NODE's API as a raw body; returns the Response."""
    hdrs = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/octet-stream")]
    target = f"/api/v1/products/{PRODUCT}/releases?version={version}"
    return node.send(http_request("POST", target, headers=hdrs, body=data), timeout=timeout)


def image(size, seed):
    return make_image("esp8266", size, seed=seed, flash_size="16M")


def release_versions(node, token):
    r = node.api("GET", f"/api/v1/products/{PRODUCT}/releases", token)
    assert_status(r, 200, f"releases on {node.name}")
    return {rel["version"]: rel for rel in r.json()["releases"]}


def database_blobs_whole(c):
    """Every blob in the database: (sha256, size, hash of its chunks in order, bytes in them)."""
    rows = c.sql("SELECT b.sha256, b.size, encode(sha256(string_agg(k.data, ''::bytea ORDER BY k.seq)), 'hex'), "
                 "sum(length(k.data)) FROM blobs b LEFT JOIN blob_chunks k ON k.sha256 = b.sha256 "
                 "GROUP BY b.sha256, b.size")
    return rows


def assert_blobs_whole(c):
    """Every blob in the database is whole and hashes to its name; returns their names."""
    names = set()
    for sha, size, got, length in database_blobs_whole(c):
        assert got == sha and length == size, \
            f"blob {sha} in the database is not whole: {length} of {size} bytes, hashing to {got!r}"
        names.add(sha)
    return names


# ---------------------------------------------------------------------------
# 1. A publish on one node is offered by every node within a second


def test_a_publish_on_one_node_is_offered_by_every_node_within_a_second():
    old, new = image(200_000, 1), image(1 << 20, 2)

    def setup(c):
        c.nodes[0].add_product(PRODUCT)
        c.nodes[0].add_release(PRODUCT, old, "1.0.0")

    with cluster(setup=setup) as c:
        for node in c.nodes:  # every node is up and answers from its catalog
            assert_not_modified(checkin(node.port, current_device(1)), f"current device on {node.name}")
        data = new.read_bytes()
        offered_after = {}
        answers = {}
        published = threading.Event()
        t_published = [0.0]

        def watch(node):
            """Check-ins of an outdated device on NODE directly, from the publish on, until 1.1.0."""
            published.wait(30)
            deadline = t_published[0] + 5
            while time.monotonic() < deadline:
                r = checkin(node.port, current_device(100 + c.nodes.index(node)))
                if r.status == 200 and r.header("x-version") == "1.1.0":
                    offered_after[node.name] = time.monotonic() - t_published[0]
                    answers[node.name] = r
                    return
                assert r.status == 304, f"{node.name} answered {r.describe()} before offering 1.1.0"
                time.sleep(0.01)

        with concurrent.futures.ThreadPoolExecutor(len(c.nodes)) as pool:
            watchers = [pool.submit(watch, node) for node in c.nodes]
            r = publish_raw(c.nodes[0], c.admin, data, "1.1.0")
            t_published[0] = time.monotonic()
            published.set()
            assert_status(r, 201, "publish 1.1.0 on n1")
            for w in watchers:
                w.result(timeout=30)
        report("publish to offered, per node (s): " +
               ", ".join(f"{name} {offered_after.get(name, float('nan')):.3f}" for name in sorted(answers)))
        for node in c.nodes:
            assert node.name in offered_after, f"{node.name} did not offer 1.1.0 within 5 s of the publish"
            assert offered_after[node.name] <= OFFERED_WITHIN_S, \
                f"{node.name} offered 1.1.0 {offered_after[node.name]:.3f} s after the publish returned"
            resp = answers[node.name]
            assert_image(resp, data, "1.1.0", f"1.1.0 from {node.name}")
            assert md5_hex(resp.body) == md5_hex(data) == resp.header("x-md5"), node.name
        # The database holds the blob whole, and each node's cache holds it, byte for byte
        # (blobs/XX/SHA256, docs/OPERATIONS.md).
        sha = sha256_hex(data)
        assert sha in assert_blobs_whole(c), f"the database has no blob {sha}"
        for node in c.nodes:
            cached = node.data_dir / "blobs" / sha[:2] / sha
            assert cached.is_file() and cached.read_bytes() == data, f"{node.name}'s cache lacks {cached}"


# ---------------------------------------------------------------------------
# 2. A device storm across the nodes


def test_a_device_storm_across_nodes_is_counted_exactly():
    devices_n, per_device, workers = 600, 3, 12

    def setup(c):
        c.nodes[0].add_product(PRODUCT)
        c.nodes[0].add_release(PRODUCT, image(100_000, 3), "1.0.0")

    with cluster(setup=setup) as c:
        before = c.hp.stats()
        failures = []

        def one_device(n):
            for k in range(per_device):
                r = checkin(c.hp.port, current_device(n))
                if r.status != 304:
                    failures.append(f"device {n} check-in {k}: {r.describe()}")
                    return

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(one_device, range(devices_n), timeout=50))
        sent_s = time.monotonic() - t0
        assert not failures, f"{len(failures)} check-ins failed, first: {failures[:3]}"
        after = c.hp.stats()
        shares = {n.name: after[n.name]["stot"] - before[n.name]["stot"] for n in c.nodes}
        assert sum(shares.values()) >= devices_n * per_device, shares
        assert all(s >= devices_n * per_device // 10 for s in shares.values()), \
            f"every node should take a share of the storm: {shares}"

        def flushed():
            rows = c.sql("SELECT count(*), COALESCE(sum(checkins), 0) FROM devices")
            return rows[0] == (str(devices_n), str(devices_n * per_device))
        t1 = time.monotonic()
        wait_until(flushed, FLUSH_WITHIN_S, 0.1, f"{devices_n} devices with {devices_n * per_device} check-ins")
        report(f"storm: {devices_n * per_device} check-ins in {sent_s:.1f} s through haproxy "
               f"(nodes: {shares}), in the registry {time.monotonic() - t1:.2f} s later")
        per = c.sql("SELECT checkins, count(*) FROM devices GROUP BY checkins")
        assert per == [(str(per_device), str(devices_n))], f"check-ins per device (count, devices): {per}"
        listing = c.nodes[2].devices(PRODUCT, c.admin, "?limit=1")
        assert listing.get("total") == devices_n, f"the device API on n3 says {listing.get('total')}"
        for node in c.nodes:
            m = node.api("GET", "/metrics", c.admin)
            assert_status(m, 200, f"metrics of {node.name}")
            dropped = [line for line in m.text.splitlines()
                       if line.startswith("otad_registry_records_dropped_total") and not line.endswith(" 0")]
            assert not dropped, f"{node.name} dropped check-ins: {dropped}"


# ---------------------------------------------------------------------------
# 3. A staged rollout whose devices check in on different nodes


def rollout(c, rid):
    r = c.nodes[0].api("GET", f"/api/v1/products/{PRODUCT}/rollouts/{rid}", c.admin)
    assert_status(r, 200, f"rollout {rid}")
    return r.json()["rollout"]


def test_rollout_counters_are_exact_when_a_device_checks_in_on_different_nodes():
    old, new = image(200_000, 4), image(300_000, 5)

    def setup(c):
        n1 = c.nodes[0]
        n1.add_product(PRODUCT)
        n1.add_release(PRODUCT, old, "1.0.0")
        # One stage of 50 %, never promoted or halted by what happens here.
        n1.cli_ok("channel", "set", PRODUCT, "stable", "--deploy", "rollout", "--stages", "50,100",
                  "--ramp", "0", "--soak", "1d", "--fail-percent", "90", "--fail-max", "0")
        n1.add_release(PRODUCT, new, "1.1.0")

    with cluster(setup=setup) as c:
        rollouts = c.nodes[0].api("GET", f"/api/v1/products/{PRODUCT}/rollouts", c.admin).json()["rollouts"]
        assert len(rollouts) == 1 and rollouts[0]["state"] == "running", rollouts
        rid = rollouts[0]["id"]
        data = new.read_bytes()
        nodes = c.nodes
        offered, held_back = [], []
        for n in range(60):  # the offer on node n % 3
            node = nodes[n % 3]
            r = checkin(node.port, current_device(n))
            if r.status == 304:
                held_back.append(n)
                continue
            assert_image(r, data, "1.1.0", f"device {n} offered on {node.name}")
            offered.append(n)
        assert len(offered) >= 10 and len(held_back) >= 10, \
            f"50 % should admit about half of 60: offered {len(offered)}"
        # Each offered device: two in three come back on 1.1.0 (succeeded), the rest on 1.0.0 (failed);
        # each on the NEXT node after the one that offered it.
        succeeded = [n for i, n in enumerate(offered) if i % 3 != 2]
        failed = [n for i, n in enumerate(offered) if i % 3 == 2]

        def offers_counted():
            counters = rollout(c, rid)["counters"]
            return counters if counters["served"] == len(offered) else None
        wait_until(offers_counted, FLUSH_WITHIN_S, 0.1, f"{len(offered)} bodies served")
        # The devices flash and reboot (an ESP8266 writes 300 kB in about 3 s), so they come back
        # seconds after their download: here 2 s after it is in the database, more than the beat
        # (1 s, src/service/cluster.c) within which the other nodes learn a device's standing.
        time.sleep(REBOOT_S)
        # Each device's next check-in, on the next node: 304 either way (on 1.1.0 it is current;
        # back on 1.0.0 it failed 1.1.0, which is never offered to it again).
        answers = {}
        for n in offered:
            node = nodes[(n + 1) % 3]
            if n in succeeded:
                dev = current_device(n, "1.1.0").but(sketch_md5=md5_hex(data))
            else:
                dev = current_device(n)
            answers[n] = (node.name, checkin(node.port, dev).status)
        # Every device offered once, served whole, and judged: none left served or downloading.
        want = {"offered": len(offered), "downloading": 0, "served": 0, "interrupted": 0,
                "interruptions": 0, "succeeded": len(succeeded), "failed": len(failed), "silent": 0}

        def outcomes_counted():
            counters = rollout(c, rid)["counters"]
            return counters if counters == want else None
        try:
            wait_until(outcomes_counted, FLUSH_WITHIN_S, 0.1, f"counters {want}")
            counted = None
        except AssertionError:
            counted = rollout(c, rid)["counters"]
        offered_again = {n: a for n, a in answers.items() if a[1] != 304}
        assert counted is None and not offered_again, \
            (f"rollout counters {counted}, the devices did {want}; failed devices offered 1.1.0 again "
             f"(device: (node, status)): {offered_again}")
        # A failed device stays failed on every node: no node offers it 1.1.0 again.
        for n in failed:
            for node in nodes:
                assert_not_modified(checkin(node.port, current_device(n)),
                                    f"device {n} failed 1.1.0 and {node.name} offered it again")
        counters = rollout(c, rid)["counters"]
        assert counters == want, f"counters moved: {counters}, want {want}"


# ---------------------------------------------------------------------------
# 4. A node killed in the middle of downloads and of a publish


def partial_upload(node, token, data, version, fraction):
    """Starts a raw publish of DATA to NODE and sends FRACTION of its body; returns the open socket."""
    head = (f"POST /api/v1/products/{PRODUCT}/releases?version={version} HTTP/1.1\r\n"
            f"Host: {HOST}:{node.port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    s = socket.create_connection((HOST, node.port), timeout=10)
    s.sendall(head + data[:int(len(data) * fraction)])
    return s


def kill_mid_download_and_mid_publish(c, big_data, cut):
    """SIGKILLs n2 while it sends the big image to slow readers, and n3 in the middle of the
    body of a publish of CUT as 3.0.0."""
    n2, n3 = c.nodes[1], c.nodes[2]
    readers = [SlowReader(n2.port, devices.esp8266(f"/update/{PRODUCT}", n2.port, current_device(n)))
               for n in range(4)]
    try:
        heads = [r.head.split("\r\n")[0] for r in readers]
        assert all(" 200 " in h for h in heads), f"slow readers on n2 should get the image: {heads}"
        n2.kill()
    finally:
        for r in readers:
            r.close()
    # One node dies at a time: with n2 and n3 killed together a trial run got HAProxy's own 503
    # (its `retries 2`, from dist/haproxy/otad.cfg, can all go to the two dead nodes).
    c.hp.wait_state("n2", "DOWN")
    s = partial_upload(n3, c.admin, cut, "3.0.0", 0.5)
    try:
        n3.kill()
    finally:
        s.close()


def test_a_node_killed_mid_download_and_mid_publish_leaves_no_partial_release():
    first, big = image(100_000, 6), image(6 << 20, 7)

    def setup(c):
        c.nodes[0].add_product(PRODUCT)
        c.nodes[0].add_release(PRODUCT, first, "1.0.0")
        c.nodes[0].add_release(PRODUCT, big, "2.0.0")

    with cluster(setup=setup) as c:
        n1, n2 = c.nodes[0], c.nodes[1]
        big_data, cut = big.read_bytes(), image(3 << 20, 8).read_bytes()
        # Current devices through the balancer before, during and after the kills: every one
        # answered (HAProxy retries a refused connection on another node, then marks it DOWN).
        with Load(c.hp.port, "2.0.0", workers=2) as load:
            wait_until(lambda: load.answered() >= 50 or load.errors, 10, 0.05, "load before the kills")
            load.phase = "during"
            kill_mid_download_and_mid_publish(c, big_data, cut)
            load.phase = "after"
            after = load.answered()
            wait_until(lambda: load.answered() >= after + 50 or load.errors, 10, 0.05, "load after the kills")
        assert not load.errors, f"a check-in through haproxy failed around the kills: {load.errors[0]}"
        for n in range(10):  # outdated devices get the image from the survivor
            assert_image(checkin(c.hp.port, current_device(1000 + n)), big_data, "2.0.0",
                         f"outdated device {n} through haproxy after the kills")
        c.hp.wait_state("n2", "DOWN")
        c.hp.wait_state("n3", "DOWN")
        # No partial release: 3.0.0 is not listed, not in the database; every blob there is whole.
        assert "3.0.0" not in release_versions(n1, c.admin), "a release cut off by SIGKILL is listed"
        assert c.sql_value("SELECT count(*) FROM releases WHERE version = '3.0.0'") == "0"
        assert_blobs_whole(c)
        # A publish whose whole body reached n2 when it was killed: whole or not at all.
        # n2 comes back on its port (the last --listen wins), where the balancer looks for it.
        n2.start(args=["--listen", f"{HOST}:{c.hp.backends[1][1]}"])
        c.hp.wait_state("n2", "UP")
        racing = image(2 << 20, 9).read_bytes()
        s = partial_upload(n2, c.admin, racing, "3.1.0", 1.0)
        try:
            n2.kill()
        finally:
            s.close()
        listed = release_versions(n1, c.admin)
        if "3.1.0" in listed:
            assert listed["3.1.0"]["sha256"] == sha256_hex(racing), listed["3.1.0"]
            r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
                checkin(n1.port, current_device(2000, "2.0.0"))), what="3.1.0 offered by n1")
            assert_image(r, racing, "3.1.0", "a release whose node died after its commit")
        assert_blobs_whole(c)
        report(f"a publish racing SIGKILL: {'committed' if '3.1.0' in listed else 'not committed'}")
        # The cut publish, again on n1: published whole and offered through the balancer.
        assert_status(publish_raw(n1, c.admin, cut, "3.0.0"), 201, "3.0.0 published again on n1")
        resp = wait_until(lambda: (lambda r: r if r.header("x-version") == "3.0.0" else None)(
            checkin(c.hp.port, current_device(3000, "2.0.0"))), what="3.0.0 offered through haproxy")
        assert_image(resp, cut, "3.0.0", "3.0.0 after the kills")
        assert sha256_hex(cut) in assert_blobs_whole(c), "3.0.0's blob is not in the database"


# ---------------------------------------------------------------------------
# 5. The leader is killed: another node takes its jobs


def test_another_node_takes_the_jobs_when_the_leader_is_killed():
    soak_s = 4

    def setup(c):
        n1 = c.nodes[0]
        n1.add_product(PRODUCT)
        n1.add_release(PRODUCT, image(100_000, 10), "1.0.0")
        n1.cli_ok("channel", "set", PRODUCT, "stable", "--deploy", "manual")
        n1.add_release(PRODUCT, image(100_000, 11), "1.1.0")

    with cluster(setup=setup) as c:
        leaders = wait_until(lambda: c.leaders() or None, 5, 0.1, "a leader in table nodes")
        assert len(leaders) == 1, f"one leader, not {leaders}"
        leader = c.node(leaders[0])
        assert f"node {leader.name} leads" in leader.log(), leader.log_tail()
        others = [n for n in c.nodes if n is not leader]
        # A rollout whose first stage offers nobody: the leader's controller promotes it once soaked.
        r = others[0].api("POST", f"/api/v1/products/{PRODUCT}/rollouts", c.admin,
                          json_body={"version": "1.1.0", "plan": {"stages": "10,100", "soak": f"{soak_s}s",
                                                                  "ramp": "0"}})
        assert_status(r, 201, "start a rollout")
        rid = r.json()["rollout"]["id"]
        started = time.monotonic()
        leader.kill()
        killed_at = time.monotonic()
        killed_ms = int(time.time() * 1000)
        assert killed_at - started < soak_s - 1, "the kill came too late: the old leader may have promoted"

        def new_leader():
            names = [n for n in c.leaders() if n != leader.name]
            return names[0] if names else None
        successor = wait_until(new_leader, LEADER_WITHIN_S + 2, 0.05, "another leader in table nodes")
        failover_s = time.monotonic() - killed_at
        assert successor in [n.name for n in others], successor
        assert f"node {successor} leads" in c.node(successor).log(), c.node(successor).log_tail()

        def promoted():
            ro = rollout_on(others[0], c, rid)
            return ro if ro["stage"] == 2 else None
        ro = wait_until(promoted, soak_s + LEADER_WITHIN_S + 3, 0.1, "the rollout promoted to stage 2")
        promoted_s = time.monotonic() - killed_at
        report(f"leader {leader.name} killed: {successor} leads after {failover_s:.2f} s, "
               f"promoted the rollout {promoted_s:.2f} s after the kill (soak {soak_s} s)")
        assert failover_s <= LEADER_WITHIN_S, f"{successor} led only {failover_s:.2f} s after the kill"
        assert ro["state"] == "running" and ro["admitted_percent"] == 100.0, ro
        # Table nodes names one leader, the successor, since the kill: the dead node's row no
        # longer says it leads.
        assert c.leaders() == [successor], f"table nodes names leaders {c.leaders()}, {successor} leads"
        since = int(c.sql_value(f"SELECT leader_since_ms FROM nodes WHERE name = '{successor}'"))
        assert since >= killed_ms - 1000, f"{successor} leads since {since}, before the kill at {killed_ms}"


def rollout_on(node, c, rid):
    r = node.api("GET", f"/api/v1/products/{PRODUCT}/rollouts/{rid}", c.admin)
    assert_status(r, 200, f"rollout {rid} on {node.name}")
    return r.json()["rollout"]


# ---------------------------------------------------------------------------
# 6. PostgreSQL away for 30 s under load


def test_postgresql_away_for_30_s_under_load_loses_no_checkin():
    old, new = image(100_000, 12), image(100_000, 13)

    def setup(c):
        c.nodes[0].add_product(PRODUCT)
        c.nodes[0].add_release(PRODUCT, old, "1.0.0")
        c.nodes[0].add_release(PRODUCT, new, "1.1.0")

    with cluster(setup=setup) as c:
        load = Load(c.hp.port, "1.1.0", new.read_bytes(), "1.0.0")
        try:
            wait_until(lambda: load.answered() >= 100 or load.errors, 10, 0.05, "load before the outage")
            c.pg.stop_server()
            load.phase = "during"
            t_down = time.monotonic()
            r = publish_raw(c.nodes[0], c.admin, image(50_000, 14).read_bytes(), "1.2.0")
            assert_api_error(r, 503, "database_unavailable", "a publish while PostgreSQL is away")
            r = c.nodes[1].api("PUT", f"/api/v1/products/{PRODUCT}/channels/stable", c.admin,
                               json_body={"deploy": "manual"})
            assert_api_error(r, 503, "database_unavailable", "an admin change while PostgreSQL is away")
            for node in c.nodes:
                assert_status(node.get("/healthz"), 200, f"/healthz of {node.name} while PostgreSQL is away")
            while time.monotonic() - t_down < OUTAGE_S and not load.errors:
                time.sleep(0.2)
            for node in c.nodes:
                assert c.hp.state(node.name) == "UP", f"{node.name} left the balancer during the outage"
            load.phase = "after"
            c.pg.start_server()
            t_up = time.monotonic()
            harness.postgresql_forget(c.url)  # srv.sql's connection went with the server
            after = load.answered()
            wait_until(lambda: load.answered() >= after + 100 or load.errors, 10, 0.05, "load after the outage")
        finally:
            load.stop()
        assert not load.errors, f"{len(load.errors)} check-ins got a wrong answer, first: {load.errors[0]}"
        assert load.during >= 100, f"only {load.during} check-ins answered during the outage"
        expected = dict(load.sent)

        def caught_up():
            rows = dict(c.sql("SELECT mac, checkins FROM devices"))
            got = {n: int(rows.get(str(mac_int(n)), 0)) for n in expected}
            return got if got == expected and len(rows) == len(expected) else None
        try:
            wait_until(caught_up, CATCH_UP_WITHIN_S, 0.1, "every check-in in the registry")
        except AssertionError:
            rows = dict(c.sql("SELECT mac, checkins FROM devices"))
            diff = {n: (int(rows.get(str(mac_int(n)), 0)), v) for n, v in expected.items()
                    if int(rows.get(str(mac_int(n)), 0)) != v}
            raise AssertionError(f"registry (got, sent) differs for {len(diff)} of {len(expected)} devices: "
                                 f"{dict(list(diff.items())[:5])}; {len(rows)} rows")
        catch_up_s = time.monotonic() - t_up
        report(f"PostgreSQL away {OUTAGE_S:.0f} s: {sum(expected.values())} check-ins "
               f"({load.during} during the outage), all in the registry {catch_up_s:.2f} s after it returned")
        # Publishing works again, and every node offers it.
        r = publish_raw(c.nodes[0], c.admin, image(50_000, 14).read_bytes(), "1.2.0")
        assert_status(r, 201, "a publish after PostgreSQL returned")
        for node in c.nodes:
            wait_until(lambda: checkin(node.port, current_device(9000, "1.1.0")).header("x-version") == "1.2.0",
                       5, 0.1, f"1.2.0 offered by {node.name}")


def mac_int(n):
    return int(devices.mac(n).replace(":", ""), 16)


# ---------------------------------------------------------------------------
# 7. Two nodes starting together on an empty database


def test_two_nodes_starting_together_apply_each_migration_once():
    pg = pg_cluster()
    url = None
    try:
        url = pg.create_database()
        with make_node("n1", url) as n1, make_node("n2", url) as n2:
            errors = []

            def start(node):
                try:
                    node.start()
                except AssertionError as e:
                    errors.append(f"{node.name}: {e}")
            threads = [threading.Thread(target=start, args=(n,)) for n in (n1, n2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors, errors
            rows = n1.sql("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version")
            migrations = sorted((REPO / "src" / "db" / "migrations" / "postgresql").glob("*.sql"))
            assert [int(v) for v, _ in rows] == list(range(1, len(migrations) + 1)), rows
            assert all(count == "1" for _, count in rows), f"a migration applied twice: {rows}"
            applied = [line for node in (n1, n2) for line in node.log().splitlines()
                       if "applied PostgreSQL migration" in line]
            assert len(applied) == len(migrations), \
                f"{len(applied)} 'applied' lines for {len(migrations)} migrations: {applied}"
            for node in (n1, n2):
                assert_status(node.get("/healthz"), 200, f"/healthz of {node.name}")
            # Both serve: a product added through one is offered by both.
            n2.add_product(PRODUCT)
            n2.add_release(PRODUCT, image(100_000, 15), "1.0.0")
            data = image(100_000, 15).read_bytes()
            for node in (n1, n2):
                r = node.wait_release_visible(PRODUCT, "1.0.0", devices.esp8266(
                    f"/update/{PRODUCT}", node.port, current_device(1, "0.9.0")))
                assert_image(r, data, "1.0.0", f"served by {node.name}")
    finally:
        if url:
            harness.postgresql_forget(url)  # srv.sql's kept connection, before the stop
        pg.stop()
