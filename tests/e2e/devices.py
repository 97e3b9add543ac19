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
  http_client_get()    the plain ESP8266HTTPClient GET (HTTP/1.1) that EmonESP's web
                       UI uses to ask for the latest version
  esphome_get()        ESPHome's http_request update and ota: the manifest, then the image
  esp32fota_get()      esp32FOTA: the manifest (?id= in its device-id mode), then the image

All Arduino update requests are HTTP/1.0 with Connection: close (§1.1, §1.2).
"""

from dataclasses import dataclass, field, replace


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


def http_client_get(target, port):
    """A plain ESP8266HTTPClient http.GET() of the 2.3 era (HTTP/1.1, _reuse false):
    what EmonESP's ota_get_latest_version() sends (§10.3)."""
    return _join(f"GET {target} HTTP/1.1", [
        ("Host", _host(port)),
        ("User-Agent", "ESP8266HTTPClient"),
        ("Connection", "close"),
        ("Accept-Encoding", "identity;q=1,chunked;q=0.1,*;q=0"),
    ])


# What both manifest clients send on every request (reference §1.2.2), after Host and their
# User-Agent: HTTP/1.1 kept alive, and no identity header of any kind.
MANIFEST_CLIENT_TAIL = [("Connection", "keep-alive"),
                        ("Accept-Encoding", "identity;q=1,chunked;q=0.1,*;q=0")]


def esphome_get(target, port, esphome_version="2025.11.0"):
    """A GET by ESPHome's http_request component (update: platform: http_request polling its
    manifest, then ota: platform: http_request fetching the image): Host, User-Agent
    "ESPHome/<version> (https://esphome.io)", Connection, Accept-Encoding (§1.2.2)."""
    return _join(f"GET {target} HTTP/1.1",
                 [("Host", _host(port)), ("User-Agent", f"ESPHome/{esphome_version} (https://esphome.io)")]
                 + MANIFEST_CLIENT_TAIL)


def esp32fota_get(target, port):
    """A GET by esp32FOTA's HTTPClient (the manifest, then the image): Host, User-Agent
    "ESP32HTTPClient", Connection, Accept-Encoding (§1.2.2)."""
    return _join(f"GET {target} HTTP/1.1",
                 [("Host", _host(port)), ("User-Agent", "ESP32HTTPClient")] + MANIFEST_CLIENT_TAIL)


def efuse_mac_id(sta_mac):
    """esp32FOTA's device id: ESP.getEfuseMac() in decimal, the MAC's six bytes read as a
    little-endian number (the first byte lowest)."""
    return str(int.from_bytes(bytes.fromhex(sta_mac.replace(":", "")), "little"))


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
