"""The manifest clients against the real daemon (docs/PROTOCOL.md, "Manifest clients"):
ESPHome's http_request update and esp32FOTA, each a device model that sends exactly
the requests of reference §1.2.2 (devices.py) over raw sockets, reads the manifest by
the client's own rules (ESPHome: chipFamily exact, any other version installs, md5
lowercase and checked against the body, path resolved against the manifest URL;
esp32FOTA: type exact, a strictly newer dotted version, url as given), fetches the
image it names, checks its Content-Length and MD5, "reboots" into the new version and
polls again. Per channel without identity, per device with ?mac= / ?id=, a staged
rollout with time that moves faster (test_fleet_time.py) where only the first stage's
devices are offered the new release and then all, devices that fall back to the old
release counted failed, the registry, and bad input over raw sockets."""

import re
import time
import urllib.parse

import tlsutil
from devices import efuse_mac_id, esp32fota_get, esphome_get, mac
from harness import Server, http_request, make_image, md5_hex, wait_until

FAST = ["--rollout-deadline-margin-ms", "2000", "--interval-min-gap-ms", "1000",
        "--rollout-tick-ms", "250"]
INTERVAL_S = 2.0
IMAGE = 48 * 1024
CHIP = "ESP32-S3"


def semver(text):
    """esp32FOTA's semver_parse_version, with SemverClass's 0.0.0 on a refusal."""
    v = [0, 0, 0]
    for i, part in enumerate(text.split(".")[:4]):
        m = re.match(r"\s*([+-]?\d+)?", part)  # strtol: blanks, a sign, digits; may read none
        if m.end() != len(part):
            return (0, 0, 0)
        if i < 3 and m.group(1):
            v[i] = int(m.group(1))
    return tuple(v)


class ManifestDevice:
    """One device running KIND ("esphome" or "esp32fota") for PRODUCT on VERSION. With
    IDENTITY its manifest URL carries its MAC (ESPHome: ?mac=&version= baked into the YAML;
    esp32FOTA: ?version= in the sketch's URL, &id= appended by useDeviceId). FALLS_BACK: the
    new release does not boot and the boot loader returns to the old one."""

    def __init__(self, srv, kind, n, product, version, identity=True, falls_back=False,
                 fw_type=None, tls=None):
        self.srv, self.kind, self.product = srv, kind, product
        self.tls = tls  # an ssl.SSLContext: the device speaks to the HTTPS listener
        self.mac = mac(n, prefix="24:0A:C4")
        self.version = version
        self.identity = identity
        self.falls_back = falls_back
        self.fw_type = fw_type or product
        self.offers = []     # versions it installed or tried
        self.statuses = {}

    def manifest_target(self):
        target = f"/manifest/{self.kind}/{self.product}.json"
        if not self.identity:
            return target
        if self.kind == "esphome":
            return f"{target}?mac={self.mac}&version={self.version}"
        return f"{target}?version={self.version}&id={efuse_mac_id(self.mac)}"

    def port(self):
        return self.srv.tls_port if self.tls else self.srv.port

    def get(self, target):
        req = esphome_get if self.kind == "esphome" else esp32fota_get
        if self.tls:
            return self.srv.send_tls(req(target, self.port()), self.tls, until="response")
        return self.srv.send(req(target, self.port()), until="response")

    def poll(self):
        """One update check, and the install it leads to. Returns the manifest's Response."""
        source = self.manifest_target()
        r = self.get(source)
        self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
        if r.status != 200:
            return r
        assert_manifest_head(r)
        doc = r.json()
        found = self.read_esphome(doc, source) if self.kind == "esphome" else self.read_fota(doc)
        if found:
            self.install(*found)
        return r

    def read_esphome(self, doc, source):
        assert isinstance(doc.get("name"), str) and isinstance(doc.get("version"), str), doc
        assert isinstance(doc.get("builds"), list), doc
        for build in doc["builds"]:
            assert isinstance(build.get("chipFamily"), str), doc  # else the whole manifest fails
            if build["chipFamily"] != CHIP:
                continue
            ota = build["ota"]
            path, md5 = ota["path"], ota["md5"]
            if doc["version"] == self.version:
                return None
            if "http" in path:
                url = path
            elif path.startswith("/"):
                url = self.source_url(source).split("/", 3)
                url = "/".join(url[:3]) + path
            else:
                url = self.source_url(source).rsplit("/", 1)[0] + "/" + path
            return url, doc["version"], md5
        return None

    def read_fota(self, doc):
        entries = doc if isinstance(doc, list) else [doc]
        for e in entries:
            assert "type" in e, doc  # an entry without type crashes the client
            if e["type"] != self.fw_type:
                continue
            v = e["version"]
            parsed = (v, 0, 0) if isinstance(v, int) and 0 <= v <= 65535 else semver(v)
            if "url" in e and parsed > semver(self.version):
                return e["url"], v, None
        return None

    def source_url(self, target):
        """The manifest URL as the device's YAML or sketch has it."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port()}{target}"

    def install(self, url, version, md5):
        parts = urllib.parse.urlsplit(url)
        scheme = "https" if self.tls else "http"
        assert parts.scheme == scheme and parts.netloc == f"127.0.0.1:{self.port()}", url
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        img = self.get(target)
        assert img.status == 200, img.describe()
        assert img.header("Transfer-Encoding") is None, img.describe()
        assert int(img.header("Content-Length")) == len(img.body) > 0, img.describe()
        if md5 is not None:  # ESPHome checks it (case-sensitively), then its updater again
            assert md5 == md5_hex(img.body), (md5, img.describe())
        self.offers.append((version, md5_hex(img.body)))
        if not self.falls_back:
            self.version = version




def assert_manifest_head(r):
    """What both clients need of a manifest answer (§1.2.2)."""
    assert r.header("Content-Type") == "application/json", r.describe()
    assert r.header("Transfer-Encoding") is None, r.describe()  # a chunked manifest fails
    assert int(r.header("Content-Length")) == len(r.body), r.describe()
    assert r.header("Cache-Control") == "no-store", r.describe()
    assert r.header("Content-Security-Policy") is None, r.describe()  # a device's answer


def images():
    """Two ESP32-S3 releases' images and their MD5s."""
    old = make_image("esp32", IMAGE, seed=1, chip="esp32s3")
    new = make_image("esp32", IMAGE, seed=2, chip="esp32s3")
    return old, new


def test_per_channel_without_identity():
    old, new = images()
    with Server() as srv:
        srv.add_product("door", platform="esp32")
        srv.add_release("door", old, "1.0.0")
        srv.add_release("door", new, "1.1.0")
        srv.start()
        token = srv.token("read")
        new_md5 = md5_hex(new.read_bytes())
        for kind in ("esphome", "esp32fota"):
            dev = ManifestDevice(srv, kind, 1, "door", "1.0.0", identity=False)
            r = dev.poll()
            assert r.status == 200, r.describe()
            assert dev.version == "1.1.0" and dev.offers == [("1.1.0", new_md5)], dev.offers
            dev.poll()  # current now: nothing more
            assert len(dev.offers) == 1, dev.offers
        # The exact JSON of each client's format.
        r = ManifestDevice(srv, "esphome", 1, "door", "1.0.0", identity=False).get(
            "/manifest/esphome/door.json")
        assert r.json() == {"name": "door", "version": "1.1.0", "builds": [
            {"chipFamily": CHIP, "ota": {"path": "/images/door/1.1.0", "md5": new_md5}}]}, r.text
        r = ManifestDevice(srv, "esp32fota", 1, "door", "1.0.0", identity=False).get(
            "/manifest/esp32fota/door.json?type=door-s3")
        assert r.json() == [{"type": "door-s3", "version": "1.1.0",
                             "url": f"http://127.0.0.1:{srv.port}/images/door/1.1.0"}], r.text
        # Nothing is recorded without identity: once a device that names itself is listed,
        # it is the only one.
        ManifestDevice(srv, "esphome", 7, "door", "1.1.0").poll()
        devs = wait_until(lambda: srv.devices("door", token)["devices"], what="the device listed")
        assert [d["mac"] for d in devs] == [mac(7, prefix="24:0A:C4")], devs


def test_per_device_with_identity_and_the_registry():
    old, new = images()
    with Server() as srv:
        srv.add_product("door", platform="esp32")
        srv.add_release("door", old, "1.0.0")
        srv.add_release("door", new, "1.1.0")
        srv.start()
        token = srv.token("read")
        home = ManifestDevice(srv, "esphome", 1, "door", "1.0.0")
        fota = ManifestDevice(srv, "esp32fota", 2, "door", "1.0.0")
        for dev in (home, fota):
            assert dev.poll().status == 200
            assert dev.version == "1.1.0", dev.offers
            r = dev.poll()
            assert r.status == 200 and len(dev.offers) == 1, (r.describe(), dev.offers)
        # Current: ESPHome is named its own version (any other would install).
        r = home.get(home.manifest_target())
        assert r.json()["version"] == "1.1.0"
        # The registry has both, as their last poll left them.
        def listed():
            devs = {d["mac"]: d for d in srv.devices("door", token)["devices"]}
            return devs if len(devs) == 2 and all(d["version"] == "1.1.0" for d in devs.values()) \
                else None
        devs = wait_until(listed, what="both devices in the registry on 1.1.0")
        assert devs[home.mac]["user_agent"] == "ESPHome/2025.11.0 (https://esphome.io)", devs
        assert devs[fota.mac]["user_agent"] == "ESP32HTTPClient", devs
        assert devs[home.mac]["last_status"] == 304 and devs[fota.mac]["last_status"] == 304, devs


class Fleet:
    """Manifest devices polling every INTERVAL_S, a few at a time."""

    def __init__(self, devices):
        self.devices = devices
        now = time.monotonic()
        self.next = {id(d): now + i * INTERVAL_S / len(devices) for i, d in enumerate(devices)}

    def turn(self):
        now = time.monotonic()
        for d in self.devices:
            if self.next[id(d)] <= now:
                before = len(d.offers)
                d.poll()
                # After an install the device reboots and polls again soon.
                self.next[id(d)] = time.monotonic() + (0.5 if len(d.offers) > before else INTERVAL_S)

    def run(self, seconds, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.turn()
            if until and until():
                return True
            time.sleep(0.05)
        return False


def rollout(srv, token, rid):
    r = srv.api("GET", f"/api/v1/products/door/rollouts/{rid}", token)
    assert r.status == 200, r.describe()
    return r.json()["rollout"]


def staged_server(srv):
    old, new = images()
    srv.add_product("door", platform="esp32")
    srv.add_release("door", old, "1.0.0")
    srv.cli_ok("channel", "set", "door", "stable", "--deploy", "manual")
    srv.add_release("door", new, "1.1.0")
    srv.start()
    return srv.token("read")


def test_staged_rollout_first_stage_then_all():
    with Server(args=FAST) as srv:
        token = staged_server(srv)
        devices = [ManifestDevice(srv, "esphome" if n % 2 else "esp32fota", n, "door", "1.0.0")
                   for n in range(1, 41)]
        fleet = Fleet(devices)
        fleet.run(2 * INTERVAL_S)
        assert all(d.offers == [] for d in devices)  # 1.0.0 deployed: nothing offered yet
        r = srv.cli_ok("rollout", "start", "door", "1.1.0", "--stages", "25,100", "--soak", "8s",
                       "--ramp", "0", "--interval", "2s", "--json")
        rid = r.json()["rollout"]["id"]
        # Stage 1 (soaking for 8 s): only its devices are offered 1.1.0, however often the
        # rest poll, and they come back on it.
        fleet.run(3 * INTERVAL_S)
        ro = rollout(srv, token, rid)
        assert ro["stage"] == 1 and ro["state"] == "running", ro
        first = [d for d in devices if d.offers]
        assert 1 <= len(first) <= len(devices) // 2, len(first)
        assert ro["counters"]["offered"] == len(first), (ro["counters"], len(first))
        assert all(d.version == "1.1.0" for d in first)
        assert all(d.version == "1.0.0" for d in devices if not d.offers)
        # Then all, and the rollout completes with every device counted succeeded.
        done = fleet.run(60, until=lambda: rollout(srv, token, rid)["state"] != "running")
        assert done, rollout(srv, token, rid)
        ro = rollout(srv, token, rid)
        assert ro["state"] == "completed", ro
        fleet.run(2 * INTERVAL_S)
        assert all(d.version == "1.1.0" for d in devices), [d.version for d in devices]
        c = ro["counters"]
        assert c["succeeded"] == len(devices) and c["failed"] == 0, c
        assert all(len(d.offers) == 1 for d in devices), [d.offers for d in devices]


def test_devices_that_fall_back_are_failed_and_halt_the_rollout():
    with Server(args=FAST) as srv:
        token = staged_server(srv)
        # Every device falls back to 1.0.0 after its download (the release does not boot).
        devices = [ManifestDevice(srv, "esphome" if n % 2 else "esp32fota", n, "door", "1.0.0",
                                  falls_back=True) for n in range(1, 21)]
        fleet = Fleet(devices)
        fleet.run(INTERVAL_S)
        r = srv.cli_ok("rollout", "start", "door", "1.1.0", "--stages", "50,100", "--soak", "30s",
                       "--ramp", "0", "--interval", "2s", "--min-served", "3", "--json")
        rid = r.json()["rollout"]["id"]
        halted = fleet.run(40, until=lambda: rollout(srv, token, rid)["state"] == "halted")
        ro = rollout(srv, token, rid)
        assert halted, ro
        assert ro["counters"]["failed"] >= 1, ro["counters"]
        assert ro["stage"] == 1, ro
        # Once the halt is in the catalog (rebuilt within half a second), nothing is offered:
        # a device that failed is never offered 1.1.0 again, nor is the rest.
        fleet.run(1.0)
        failed_before = {id(d): len(d.offers) for d in devices}
        fleet.run(2 * INTERVAL_S)
        assert {id(d): len(d.offers) for d in devices} == failed_before


def test_over_https_the_image_urls_are_https():
    old, new = images()
    with Server() as srv:
        srv.add_product("door", platform="esp32")
        srv.add_release("door", old, "1.0.0")
        srv.add_release("door", new, "1.1.0")
        srv.cli_ok("product", "fleet", "door", "--https", "required")
        ca = tlsutil.make_ca(srv.tmp / "ca")
        tlsutil.install_default(srv.data_dir, ca)
        srv.start(["--listen-tls", "127.0.0.1:0"])
        ctx = tlsutil.context(ca[0])
        for n, kind in enumerate(("esphome", "esp32fota"), 1):
            for identity in (True, False):
                dev = ManifestDevice(srv, kind, n, "door", "1.0.0", identity=identity, tls=ctx)
                r = dev.poll()
                assert r.status == 200 and dev.version == "1.1.0", (r.describe(), dev.offers)
                # The product requires HTTPS: over plain HTTP the manifest is refused, not
                # answered with an https:// URL the device did not ask for.
                plain = ManifestDevice(srv, kind, n, "door", "1.0.0", identity=identity)
                r = plain.poll()
                assert r.status == 403 and "requires HTTPS" in r.text, r.describe()
                assert plain.offers == []


def raw(srv, target, headers=()):
    return srv.send(http_request("GET", target, host=f"127.0.0.1:{srv.port}",
                                 headers=[("User-Agent", "ESPHome/2025.11.0 (https://esphome.io)")]
                                 + list(headers)))


def test_bad_input_gets_a_clear_4xx():
    old, new = images()
    with Server() as srv:
        srv.add_product("door", platform="esp32")
        srv.add_release("door", old, "1.0.0")
        srv.start()
        cases = [
            ("/manifest/esphome/door.json?mac=24:0A:C4&version=1.0.0", 400, "?mac="),
            ("/manifest/esphome/door.json?mac=nothex00000g&version=1.0.0", 400, "?mac="),
            ("/manifest/esphome/door.json?mac=240AC4000001", 400, "?version="),
            ("/manifest/esp32fota/door.json?version=1&id=12x", 400, "?id="),
            ("/manifest/esp32fota/door.json?version=1&id=281474976710656", 400, "?id="),
            ("/manifest/esp32fota/door.json?version=1&id=5&mac=240AC4000001", 400, "not both"),
            ("/manifest/esphome/nope.json", 404, "no such product"),
            ("/manifest/esphome/door", 404, "no such manifest"),
            ("/manifest/other/door.json", 404, "no such manifest"),
            ("/images/door/1.0.0?mac=xyz", 400, "?mac="),
        ]
        for target, status, needle in cases:
            r = raw(srv, target)
            assert r.status == status and needle in r.text, (target, r.describe())
            assert r.header("Content-Type").startswith("text/plain"), r.describe()
            assert r.text.endswith("\n") and r.text.count("\n") == 1, r.describe()
        # A HEAD answers the head alone, with the same Content-Length as the GET.
        get = raw(srv, "/manifest/esphome/door.json")
        head = srv.send(http_request("HEAD", "/manifest/esphome/door.json",
                                     host=f"127.0.0.1:{srv.port}"), head_only=True)
        assert head.status == 200 and head.body == b"", head.describe()
        assert head.header("Content-Length") == get.header("Content-Length"), head.describe()
