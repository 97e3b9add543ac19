"""The exact bytes stock update clients send (docs/reference/stock-clients.md §1-2).

Each builder returns one request as bytes, with the header order, case and
set of the client it imitates, so a test can send it byte for byte:

  esp8266(core="2.3")  2016 cores (squix78, EmonESP): no sketch-md5, no Chip-ID,
                       no Content-Length
  esp8266(core="2.4")  + x-ESP8266-sketch-md5
  esp8266(core="2.7")  + x-ESP8266-Chip-ID first, Content-Length: 0 last (2.6.0+)
  esp8266(core="3.1")  same set as 2.7 (the §1.1 example)
  esp32(core="2")      arduino-esp32 2.x: Cache-Control: no-cache first, x-ESP32-*,
                       sketch-sha256 UPPERCASE, no Content-Length
  esp32(core="3")      3.x: + x-ESP32-BASE-MAC after Cache-Control
  esp_idf()            esp_https_ota: a plain HTTP/1.1 GET of the image URL (Range on a resume)
  IdfApp / idf_update()  an ESP-IDF app with docs/ESP-IDF.md's snippet: its x-ESP-IDF-*
                       headers read from the snippet, and esp_https_ota's partial download
                       (HEAD, then ranged GETs on a kept-alive HTTP/1.1 connection)
  http_client_get()    the plain ESP8266HTTPClient GET (HTTP/1.1) that EmonESP's web
                       UI uses to ask for the latest version

All Arduino update requests are HTTP/1.0 with Connection: close (§1.1, §1.2).
"""

import http.client
import re
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass
class Device:
    """What a device reports about itself. None leaves a header out
    (except where a core always sends it)."""
    sta_mac: str = "18:FE:AA:AA:AA:01"
    ap_mac: str = "1A:FE:AA:AA:AA:01"
    chip_id: int = 10468123
    free_space: int = 1044480        # (FS_start - 0x40200000) - roundup4096(sketch), 4M/1M FS layout
    sketch_size: int = 373940
    sketch_md5: str = "a56f8ef78a0bebd812f62067daf1408a"
    sketch_sha256: str = "8DFFB149E1859BD81A0DF868C868F7127257065ED234C8D58247C347D416D758"
    base_mac: str = "18:FE:AA:AA:AA:00"
    chip_size: int = 4194304
    sdk_version: str = "2.2.2-dev(38a443e)"
    mode: str = "sketch"             # sketch | spiffs | version
    version: str = None              # currentVersion; None or "" -> header not sent
    extra: list = field(default_factory=list)  # (name, value) appended after the identity headers

    def but(self, **changes):
        return replace(self, **changes)


def mac(n, prefix="18:FE:AA"):
    """A deterministic uppercase STA MAC for device number N."""
    return f"{prefix}:{(n >> 16) & 0xFF:02X}:{(n >> 8) & 0xFF:02X}:{n & 0xFF:02X}"


def _host(port):
    # ESP8266HTTPClient appends ":port" only when the port is not 80 or 443 (§1.1).
    return "127.0.0.1" if port in (80, 443) else f"127.0.0.1:{port}"


def _join(request_line, headers):
    return ("\r\n".join([request_line] + [f"{n}: {v}" for n, v in headers]) + "\r\n\r\n").encode("latin-1")


def esp8266_headers(dev, core="3.1"):
    """The x-ESP8266-* headers in addHeader() order for CORE (§2)."""
    major_minor = tuple(int(x) for x in core.split("."))
    h = []
    if major_minor >= (2, 6):
        h.append(("x-ESP8266-Chip-ID", str(dev.chip_id)))
    h += [
        ("x-ESP8266-STA-MAC", dev.sta_mac),
        ("x-ESP8266-AP-MAC", dev.ap_mac),
        ("x-ESP8266-free-space", str(dev.free_space)),
        ("x-ESP8266-sketch-size", str(dev.sketch_size)),
    ]
    if major_minor >= (2, 4) and dev.sketch_md5 is not None:
        h.append(("x-ESP8266-sketch-md5", dev.sketch_md5))
    h += [
        ("x-ESP8266-chip-size", str(dev.chip_size)),
        ("x-ESP8266-sdk-version", dev.sdk_version),
        ("x-ESP8266-mode", dev.mode),
    ]
    if dev.version:
        h.append(("x-ESP8266-version", dev.version))
    return h


def esp8266(target, port, dev=None, core="3.1", authorization=None):
    """ESP8266httpUpdate.update(): request line, Host, User-Agent, [Authorization],
    Connection, x-ESP8266-* headers, then Content-Length: 0 on 2.6.0+ (§1.1).
    (In 2.4.x Authorization came after Connection; the position is the same here.)"""
    dev = dev or Device()
    major_minor = tuple(int(x) for x in core.split("."))
    headers = [("Host", _host(port)), ("User-Agent", "ESP8266-http-Update")]
    if authorization and major_minor >= (3, 0):
        headers.append(("Authorization", authorization))
    headers.append(("Connection", "close"))
    if authorization and major_minor < (3, 0):
        headers.append(("Authorization", authorization))
    headers += esp8266_headers(dev, core) + list(dev.extra)
    if major_minor >= (2, 6):
        headers.append(("Content-Length", "0"))
    return _join(f"GET {target} HTTP/1.0", headers)


def esp32(target, port, dev=None, core="2", authorization=None):
    """arduino-esp32 HTTPUpdate: Host, User-Agent, Connection, [Authorization], then
    Cache-Control: no-cache and the x-ESP32-* headers; no Content-Length on a GET (§1.2, §2).
    HTTPClient writes Authorization after Connection, before the updater's own headers."""
    dev = dev or Device(sdk_version="v4.4.5", free_space=1966080, sketch_size=1006448)
    headers = [("Host", _host(port)), ("User-Agent", "ESP32-http-Update"), ("Connection", "close")]
    if authorization:
        headers.append(("Authorization", authorization))
    headers.append(("Cache-Control", "no-cache"))
    if core == "3":
        headers.append(("x-ESP32-BASE-MAC", dev.base_mac))
    if dev.sta_mac is not None:      # 3.x sends STA/AP only when SOC_WIFI_SUPPORTED (§2)
        headers.append(("x-ESP32-STA-MAC", dev.sta_mac))
    if dev.ap_mac is not None:
        headers.append(("x-ESP32-AP-MAC", dev.ap_mac))
    headers += [
        ("x-ESP32-free-space", str(dev.free_space)),
        ("x-ESP32-sketch-size", str(dev.sketch_size)),
    ]
    if dev.sketch_md5:
        headers.append(("x-ESP32-sketch-md5", dev.sketch_md5))
    if dev.sketch_sha256:
        headers.append(("x-ESP32-sketch-sha256", dev.sketch_sha256.upper()))
    headers += [
        ("x-ESP32-chip-size", str(dev.chip_size)),
        ("x-ESP32-sdk-version", dev.sdk_version),
        ("x-ESP32-mode", dev.mode),
    ]
    if dev.version:
        headers.append(("x-ESP32-version", dev.version))
    headers += list(dev.extra)
    return _join(f"GET {target} HTTP/1.0", headers)


def esp_idf(target, port, authorization=None, range_from=None):
    """esp_https_ota's GET of an image URL (ESP-IDF v5.5.5, docs/PROTOCOL.md "The device
    library's requests"): HTTP/1.1, kept alive, no identity headers. esp_http_client sends
    its headers in the order they were set: User-Agent and Host when the client is made,
    Range (a resume: "bytes=N-") before the request, Authorization when it is prepared."""
    headers = [("User-Agent", "ESP32 HTTP Client/1.0"), ("Host", _host(port))]
    if range_from is not None:
        headers.append(("Range", f"bytes={range_from}-"))
    if authorization:
        headers.append(("Authorization", authorization))
    return _join(f"GET {target} HTTP/1.1", headers)


IDF_SNIPPET_DOC = Path(__file__).resolve().parents[2] / "docs" / "ESP-IDF.md"


def idf_snippet():
    """The C snippet of docs/ESP-IDF.md: the set_header lines as (name, value expression) in
    their order, and each snprintf's format by the buffer it writes."""
    text = IDF_SNIPPET_DOC.read_text()
    code = re.search(r"```c\n(.*?)```", text, re.S)
    assert code, f"{IDF_SNIPPET_DOC} has no C snippet"
    code = code.group(1)
    headers = re.findall(r'esp_http_client_set_header\(client, "([^"]+)", ([^;]+)\);', code)
    assert headers, "the snippet sets no header"
    formats = {}
    for buf, fmt in re.findall(r'snprintf\((\w+), sizeof\(\1\),\s*((?:"[^"]*"|\s|PRIu32)+),', code):
        formats[buf] = fmt
    return headers, formats, code


@dataclass
class IdfApp:
    """What an ESP-IDF app's calls return, for the snippet's expressions."""
    mac: bytes = bytes([0x24, 0x0A, 0xC4, 0x00, 0x00, 0x01])
    version: str = "1.0.0"                 # esp_app_get_description()->version
    elf_sha256: str = "0" * 64             # the app's ELF SHA-256 (lowercase hex)
    elf_digits: int = 9                    # CONFIG_APP_RETRIEVE_LEN_ELF_SHA
    chip: str = "esp32s3"                  # CONFIG_IDF_TARGET
    chip_revision: int = 2                 # efuse_hal_chip_revision()
    secure_version: int = 0                # esp_efuse_read_secure_version()
    partition_size: int = 0x180000         # esp_ota_get_next_update_partition(NULL)->size

    def but(self, **changes):
        return replace(self, **changes)


def _c_format(fmt, *args):
    """A C printf format of the snippet ('"%02X:%02X" ...' or '"%" PRIu32') applied in Python."""
    parts = [literal if not macro else "u"  # "%" PRIu32 is "%u"
             for literal, macro in re.findall(r'"([^"]*)"|(PRIu32)', fmt)]
    return "".join(parts) % args


def idf_headers(app):
    """The x-ESP-IDF-* headers the snippet's http_client_init_cb sets for APP, in its order,
    each value made the way the snippet makes it (a snippet expression otad's tests do not
    know fails here: the doc and the test cannot drift)."""
    headers, formats, _ = idf_snippet()
    out = []
    for name, expr in headers:
        expr = expr.strip()
        if expr == "mac_text":
            value = _c_format(formats["mac_text"], *app.mac)
        elif expr == "esp_app_get_description()->version":
            value = app.version
        elif expr == "elf_sha256":
            # esp_app_get_elf_sha256 writes CONFIG_APP_RETRIEVE_LEN_ELF_SHA digits at most.
            value = app.elf_sha256[:app.elf_digits]
        elif expr == "CONFIG_IDF_TARGET":
            value = app.chip
        elif expr in ("chip_revision", "secure_version", "free_space"):
            number = {"chip_revision": app.chip_revision, "secure_version": app.secure_version,
                      "free_space": app.partition_size}[expr]
            value = _c_format(formats[expr], number)
        else:
            raise AssertionError(f"docs/ESP-IDF.md sets {name} from {expr!r}: teach devices.py")
        out.append((name, value))
    return out


class IdfClient:
    """esp_http_client as esp_https_ota drives it: HTTP/1.1, User-Agent and Host set when the
    client is made, then the snippet's headers in the order set, then Range when the update
    sets it; one connection kept alive until closed."""

    def __init__(self, port, target, app):
        self.port = port
        self.target = target
        self.headers = [("User-Agent", "ESP32 HTTP Client/1.0"), ("Host", _host(port))]
        self.headers += idf_headers(app)
        self.conn = None
        self.connections = 0

    def request(self, method, range_spec=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.connections += 1
        self.conn.putrequest(method, self.target, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers:
            self.conn.putheader(name, value)
        if range_spec:
            self.conn.putheader("Range", range_spec)
        self.conn.endheaders()
        resp = self.conn.getresponse()
        body = resp.read()
        return resp, body

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class IdfUpdate:
    """What one esp_https_ota() run saw."""
    status: int                        # the last status (304, 403 ... or 200/206 for an image)
    image: bytes = None                # the image written, when whole
    requests: list = field(default_factory=list)  # (method, Range or None, status)
    reason: str = ""

    def __repr__(self):
        image = f"{len(self.image)} bytes" if self.image is not None else None
        return (f"IdfUpdate(status={self.status}, image={image}, requests={self.requests}, "
                f"reason={self.reason!r})")


def idf_update(port, target, app, max_request=16384):
    """esp_https_ota with partial_http_download and MAX_REQUEST (ESP-IDF v5): a HEAD for the
    length (else a GET of bytes=0-0), the connection closed, then GETs of MAX_REQUEST bytes,
    the first asking up to the length itself (one past the last byte, as esp_https_ota does),
    the last open-ended, on one kept-alive connection."""
    client = IdfClient(port, target, app)
    done = IdfUpdate(status=0)
    try:
        resp, _ = client.request("HEAD")
        done.requests.append(("HEAD", None, resp.status))
        length = None
        if resp.status == 200:
            length = int(resp.getheader("Content-Length"))
        else:
            resp, body = client.request("GET", "bytes=0-0")
            done.requests.append(("GET", "bytes=0-0", resp.status))
            if resp.status == 200:
                length = int(resp.getheader("Content-Length"))
            elif resp.status == 206:
                length = int(resp.getheader("Content-Range").rsplit("/", 1)[1])
            else:
                done.status = resp.status
                done.reason = body.decode(errors="replace").strip()
                return done
        client.close()
        image = bytearray()
        # The first range ends at start + max - 1, or at LENGTH itself (one past the last
        # byte); none is set when it would cover the whole image.
        end = max_request - 1 if length > max_request else length
        spec = f"bytes=0-{end}" if end - 0 < length else None
        while True:
            resp, body = client.request("GET", spec)
            done.requests.append(("GET", spec, resp.status))
            done.status = resp.status
            if resp.status not in (200, 206):
                done.reason = body.decode(errors="replace").strip()
                return done
            image += body
            if len(image) >= length:
                break
            start = len(image)
            spec = (f"bytes={start}-{start + max_request - 1}" if length - start > max_request
                    else f"bytes={start}-")
        done.image = bytes(image)
        return done
    finally:
        client.close()


def http_client_get(target, port):
    """A plain ESP8266HTTPClient http.GET() of the 2.3 era (HTTP/1.1, _reuse false):
    what EmonESP's ota_get_latest_version() sends (§10.3)."""
    return _join(f"GET {target} HTTP/1.1", [
        ("Host", _host(port)),
        ("User-Agent", "ESP8266HTTPClient"),
        ("Connection", "close"),
        ("Accept-Encoding", "identity;q=1,chunked;q=0.1,*;q=0"),
    ])


def sdk_for(core):
    """A plausible system_get_sdk_version() for CORE (§2)."""
    return {"2.3": "1.5.3(aec24ac9)", "2.4": "2.2.1(cfd48f3)"}.get(core, "2.2.2-dev(38a443e)")


# The cipher suites of BearSSL's "full" client profile, in its order: what the ESP8266 core's
# BearSSL::WiFiClientSecure offers by default and lists in its MFLN probe.
BEARSSL_FULL_SUITES = [
    0xCCA9, 0xCCA8, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xC0AC, 0xC0AD, 0xC0AE, 0xC0AF, 0xC023, 0xC027,
    0xC024, 0xC028, 0xC009, 0xC013, 0xC00A, 0xC014, 0xC02D, 0xC031, 0xC02E, 0xC032, 0xC025, 0xC029,
    0xC026, 0xC02A, 0xC004, 0xC00E, 0xC005, 0xC00F, 0x009C, 0x009D, 0xC09C, 0xC09D, 0xC0A0, 0xC0A1,
    0x003C, 0x003D, 0x002F, 0x0035, 0xC008, 0xC012, 0xC003, 0xC00D, 0x000A,
]


def esp8266_mfln_probe(length):
    """The ClientHello of BearSSL::WiFiClientSecure::probeMaxFragmentLength(host, port, LENGTH)
    (ESP8266 core 2.5 to 3.1): a TLS 1.2 record with a fixed random, no session ID, the full
    suite list, no compression, and one extension, max_fragment_length; no SNI, no groups, no
    signature algorithms. The core sends it on a plain TCP connection and reads only the
    ServerHello (docs/TLS.md)."""
    code = {512: 1, 1024: 2, 2048: 3, 4096: 4}[length]
    random = bytes(range(1, 9)) + bytes(range(0x11, 0x19)) + bytes(range(1, 9)) + bytes(range(0x11, 0x19))
    suites = b"".join(s.to_bytes(2, "big") for s in BEARSSL_FULL_SUITES)
    hello = (b"\x03\x03" + random + b"\x00" + len(suites).to_bytes(2, "big") + suites + b"\x01\x00"
             + b"\x00\x05" + b"\x00\x01\x00\x01" + bytes([code]))
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return b"\x16\x03\x03" + len(handshake).to_bytes(2, "big") + handshake
