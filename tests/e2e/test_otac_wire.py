"""The device library's requests against the Python builders, byte for byte.

tests/tools/otac_request_dump prints what otac_request_checkin and
otac_request_resume (lib/request.c) build; tests/e2e/devices.py builds the
same requests as the stock clients send them, the bytes every other e2e test
sends to otad. For every client the library knows (ESP8266 cores 2.4, 2.7 and
3.1, arduino-esp32 3.x, ESP-IDF) and a few hundred random devices, the two
must be equal. No otad is started: the server's side of these bytes is the
other tests' concern.
"""

import os
import random
import string
import subprocess

import devices
import tls_clients
from devices import Device

DEVICES = 300
ESP8266_CORES = {"esp8266-2.4": "2.4", "esp8266-2.7": "2.7", "esp8266-3.1": "3.1"}


def dump_tool():
    """The built tests/tools/otac_request_dump, found where the TLS clients are."""
    for d in tls_clients.tools_dirs():
        path = d / "otac_request_dump"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise AssertionError("otac_request_dump is not built; looked in: " +
                         ", ".join(str(d) for d in tls_clients.tools_dirs()))


def library_request(*args):
    r = subprocess.run([str(dump_tool())] + [str(a) for a in args], capture_output=True, timeout=10)
    assert r.returncode == 0, f"otac_request_dump {args!r}: {r.stderr.decode(errors='replace')}"
    return r.stdout


def library_requests(records):
    """The library's bytes for each argument list in RECORDS, in one run of the tool
    (its --batch mode: a process per request is slow under the sanitizers)."""
    stdin = b"".join(b"%d\0" % len(args) + b"".join(str(a).encode("latin-1") + b"\0" for a in args)
                     for args in records)
    r = subprocess.run([str(dump_tool()), "--batch"], input=stdin, capture_output=True, timeout=60)
    assert r.returncode == 0, f"otac_request_dump --batch: {r.stderr.decode(errors='replace')}"
    out, at, requests = r.stdout, 0, []
    for args in records:
        end = out.index(b"\n", at)
        word, _, rest = out[at:end].partition(b" ")
        assert word == b"OK", f"otac_request_dump {args!r}: {rest.decode(errors='replace')}"
        length = int(rest)
        requests.append(out[end + 1:end + 1 + length])
        at = end + 1 + length
    assert at == len(out), "otac_request_dump --batch printed more than was asked"
    return requests


def random_mac(rng):
    return ":".join(f"{rng.randrange(256):02X}" for _ in range(6))


def random_text(rng, longest):
    """Printable ASCII, blanks included (sent verbatim), of 0 to LONGEST bytes."""
    return "".join(rng.choice(string.printable[:95]) for _ in range(rng.randrange(longest + 1)))


def random_number(rng):
    return rng.choice([0, 1, rng.randrange(1 << 20), rng.randrange(1 << 32), rng.randrange(1 << 64),
                       (1 << 64) - 1])


def random_device(rng):
    """A Device, and the fields as the library takes them ("" for a header left out)."""
    md5 = rng.choice([None, "".join(rng.choice("0123456789abcdef") for _ in range(32))])
    sha = rng.choice([None, "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(64))])
    version = rng.choice([None, random_text(rng, 64)]) or None
    dev = Device(sta_mac=random_mac(rng), ap_mac=random_mac(rng), base_mac=random_mac(rng),
                 chip_id=rng.randrange(1 << 32), free_space=random_number(rng),
                 sketch_size=random_number(rng), chip_size=random_number(rng), sketch_md5=md5,
                 sketch_sha256=sha, sdk_version=random_text(rng, 64),
                 mode=rng.choice(["sketch", "spiffs"]), version=version)
    fields = ["--sta-mac", dev.sta_mac, "--ap-mac", dev.ap_mac, "--base-mac", dev.base_mac,
              "--chip-id", dev.chip_id, "--free-space", dev.free_space,
              "--sketch-size", dev.sketch_size, "--chip-size", dev.chip_size,
              "--sketch-md5", md5 or "", "--sketch-sha256", sha or "",
              "--sdk-version", dev.sdk_version, "--version", version or "",
              "--mode", "fs" if dev.mode == "spiffs" else "sketch"]
    return dev, fields


def random_target(rng):
    return rng.choice(["/update/door", "file.bin", "/esp/firmware.php?tag=1.0.0",
                       "/" + random_text(rng, 200).replace(" ", "")]) or "/"


def assert_same(name, ours, theirs, args):
    assert ours == theirs, (f"{name}: the library's request differs from devices.py's for "
                            f"{args!r}:\n library: {ours!r}\n devices: {theirs!r}")


def test_every_client_equals_devices_py():
    rng = random.Random(1414)
    cases = []  # (what, tool arguments, devices.py's bytes)
    for _ in range(DEVICES):
        dev, fields = random_device(rng)
        port = rng.choice([80, 443, rng.randrange(1, 65536)])
        target = random_target(rng)
        authorization = rng.choice([None, "", "Basic " + random_text(rng, 40).strip()])
        auth_args = [] if authorization is None else ["--authorization", authorization]

        for client, core in ESP8266_CORES.items():
            cases.append((client, [client, "127.0.0.1", port, target] + fields + auth_args,
                          devices.esp8266(target, port, dev, core=core,
                                          authorization=authorization)))
        cases.append(("esp32", ["esp32", "127.0.0.1", port, target] + fields + auth_args,
                      devices.esp32(target, port, dev, core="3", authorization=authorization)))
        cases.append(("esp-idf", ["esp-idf", "127.0.0.1", port, target] + fields + auth_args,
                      devices.esp_idf(target, port, authorization=authorization)))
        offset = random_number(rng)
        cases.append(("resume", ["resume", "127.0.0.1", port, target, offset] + auth_args,
                      devices.esp_idf(target, port, authorization=authorization,
                                      range_from=offset)))

    ours = library_requests([args for _, args, _ in cases])
    assert len(ours) == len(cases) == DEVICES * 6
    for (what, args, theirs), mine in zip(cases, ours):
        assert_same(what, mine, theirs, args)


def test_the_default_devices_equal_devices_py():
    """devices.py's own defaults, the device most e2e tests send, for each core."""
    dev = Device(version="1.0.0")
    fields = ["--sta-mac", dev.sta_mac, "--ap-mac", dev.ap_mac, "--base-mac", dev.base_mac,
              "--chip-id", dev.chip_id, "--free-space", dev.free_space,
              "--sketch-size", dev.sketch_size, "--chip-size", dev.chip_size,
              "--sketch-md5", dev.sketch_md5, "--sketch-sha256", dev.sketch_sha256,
              "--sdk-version", dev.sdk_version, "--version", dev.version]
    for client, core in ESP8266_CORES.items():
        assert library_request(client, "127.0.0.1", 18420, "/update/door", *fields) == \
            devices.esp8266("/update/door", 18420, dev, core=core), client
    assert library_request("esp32", "127.0.0.1", 18420, "/update/door", *fields) == \
        devices.esp32("/update/door", 18420, dev, core="3")


def test_a_line_break_is_refused():
    """A value that would add a header is never printed: the library refuses it."""
    for args in (["esp8266-3.1", "127.0.0.1", 80, "/u", "--version", "1.0\r\nx-Evil: 1"],
                 ["esp32", "127.0.0.1", 80, "/u\nx-Evil: 1"],
                 ["esp-idf", "127.0.0.1", 80, "/u", "--authorization", "Basic a\rb"]):
        r = subprocess.run([str(dump_tool())] + [str(a) for a in args], capture_output=True,
                           timeout=10)
        assert r.returncode == 1 and r.stdout == b"", f"{args!r}: {r.returncode} {r.stdout!r}"
        assert b"invalid argument" in r.stderr, r.stderr
