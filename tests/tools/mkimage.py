#!/usr/bin/env python3
"""Generate synthetic, structurally valid ESP8266 / ESP32 firmware images.

The images are not runnable programs: the segment contents are pseudo-random
bytes derived from --seed. Everything else follows the esptool image layout,
so otad's image validation accepts them, and the same arguments always give
the same bytes (and so the same MD5 / SHA-256).

Layouts written:

  esp8266  8-byte header (E9, segment count, flash mode, size<<4 | freq,
           LE32 entry), then each segment (LE32 load address, LE32 length,
           data padded to 4), then zero padding and the checksum byte
           (0xEF xor every segment data byte) so the file is a multiple of
           16 bytes, as elf2bin.py writes the application image.
  esp32    the same 8-byte header plus the 16-byte extended header
           (WP pin 0xEE, drive settings, LE16 chip id, revisions, the
           hash-appended flag at byte 23), segments, padding and checksum
           to a multiple of 16, then with --hash-appended the SHA-256 of
           everything before it (32 bytes), as esptool elf2image does.

App descriptor (esp32 only): the first segment starts with the 256-byte
esp_app_desc_t an ESP-IDF build writes (docs/PROTOCOL.md, "The app
descriptor"): magic 0xABCD5432, secure_version, version, project name,
build time and date, IDF version, the ELF's SHA-256. By default it is the
descriptor arduino-esp32 sketches carry: project "arduino-lib-builder",
whose version is the framework's ("esp-idf: v5.5.1 ..."), so it names no
version of the sketch and any release version agrees with it. --app-version
(or --app-project) makes it an ESP-IDF app's (project "otad-test", version
"1.0.0" unless given); --no-app-desc leaves it out (the first segment is then
random bytes, as in images from before IDF 3.2). The chip revisions go into
the extended header (bytes 15-18; --max-chip-rev 0 writes 0xFFFF, no
maximum, as esptool does).

Size: --size is the size of the uncompressed image. Images are always a
multiple of 16 bytes (the SHA-256 trailer is 32 bytes, so that holds with
--hash-appended too); a --size that is not a multiple of 16 is rounded up to
the next one and a note goes to stderr. With --gzip the output is the image
compressed with a fixed gzip header (mtime 0), so its size is whatever
deflate gives.

Exit status: 0 on success, 2 on bad arguments.
"""

import argparse
import gzip
import hashlib
import random
import struct
import sys

ESP_MAGIC = 0xE9
CHECKSUM_SEED = 0xEF

ESP8266_FLASH_SIZE_CODES = {
    "512K": 0,
    "256K": 1,
    "1M": 2,
    "2M": 3,
    "4M": 4,
    "8M": 8,
    "16M": 9,
}

ESP32_FLASH_SIZE_CODES = {
    "1M": 0,
    "2M": 1,
    "4M": 2,
    "8M": 3,
    "16M": 4,
    "32M": 5,
    "64M": 6,
    "128M": 7,
}

ESP32_CHIP_IDS = {
    "esp32": 0,
    "esp32s2": 2,
    "esp32c3": 5,
    "esp32s3": 9,
    "esp32c2": 12,
    "esp32c6": 13,
    "esp32h2": 16,
    "esp32p4": 18,
    "esp32c5": 23,
}

# Load addresses only make the segment headers look like a real build.
ESP8266_LOAD_ADDRESSES = [0x40100000, 0x3FFE8000, 0x3FFE8400, 0x40101000]
ESP32_LOAD_ADDRESSES = [0x3F400020, 0x3FFB0000, 0x40080000, 0x400D0020]

ESP8266_HEADER_BYTES = 8
ESP32_HEADER_BYTES = 24
SEGMENT_HEADER_BYTES = 8
SHA256_BYTES = 32
MAX_SEGMENTS = 16

APP_DESC_MAGIC = 0xABCD5432
APP_DESC_BYTES = 256
FRAMEWORK_PROJECT = "arduino-lib-builder"
FRAMEWORK_VERSION = "esp-idf: v5.5.1 6f3d2b0c4e"
DEFAULT_IDF_VERSION = "v5.5.1"
DEFAULT_APP_PROJECT = "otad-test"
DEFAULT_APP_VERSION = "1.0.0"
# Fixed, like everything else here: the same arguments give the same bytes.
BUILD_TIME = "12:00:00"
BUILD_DATE = "Jan  1 2026"


def fail(message):
    print("mkimage.py: " + message, file=sys.stderr)
    sys.exit(2)


def random_bytes(rng, n):
    if n <= 0:
        return b""
    return rng.getrandbits(8 * n).to_bytes(n, "little")


def split_lengths(total, count):
    """Splits TOTAL (a multiple of 4) into COUNT lengths, each a positive multiple of 4."""
    words = total // 4
    base, extra = divmod(words, count)
    # The first segment takes the remainder, like a large .text segment.
    return [4 * (base + (extra if i == 0 else 0)) for i in range(count)]


def app_desc_bytes(desc):
    """The 256-byte esp_app_desc_t of DESC (a dict), as an ESP-IDF build writes it."""
    def text(value, size, name):
        raw = value.encode("ascii")
        if len(raw) >= size:
            fail("--%s %r is longer than its %d-byte field allows (%d + NUL)"
                 % (name, value, size, size - 1))
        return raw.ljust(size, b"\x00")
    out = struct.pack("<II8x", APP_DESC_MAGIC, desc["secure_version"])
    out += text(desc["version"], 32, "app-version")
    out += text(desc["project"], 32, "app-project")
    out += text(BUILD_TIME, 16, "time")
    out += text(BUILD_DATE, 16, "date")
    out += text(desc["idf_version"], 32, "idf-version")
    out += desc["elf_sha256"]
    # min/max eFuse block revision (0: any), mmu_page_size (log2: 64 KiB), reserved.
    out += struct.pack("<HHB", 0, 0, 16)
    out += b"\x00" * (APP_DESC_BYTES - len(out))
    assert len(out) == APP_DESC_BYTES
    return out


def build_image(platform, size, segments, flash_mode, flash_code, chip_id, hash_appended, seed,
                app_desc=None, min_rev=0, max_rev=0xFFFF):
    header_bytes = ESP8266_HEADER_BYTES if platform == "esp8266" else ESP32_HEADER_BYTES
    trailer = SHA256_BYTES if hash_appended else 0
    body = size - trailer
    # Segment data ends 4 bytes before BODY: 3 padding bytes and the checksum
    # then end the file on a 16-byte boundary (BODY is a multiple of 16).
    min_size = header_bytes + segments * (SEGMENT_HEADER_BYTES + 4) + 4 + trailer
    min_size += -min_size % 16
    if size < min_size:
        fail("--size %d is too small for %d segment(s); need at least %d"
             % (size, segments, min_size))
    data_total = body - header_bytes - segments * SEGMENT_HEADER_BYTES - 4

    rng = random.Random(seed)
    loads = ESP8266_LOAD_ADDRESSES if platform == "esp8266" else ESP32_LOAD_ADDRESSES
    entry = loads[0] + 4

    out = bytearray()
    out += struct.pack("<BBBBI", ESP_MAGIC, segments, flash_mode, (flash_code << 4) | 0, entry)
    if platform == "esp32":
        out += struct.pack("<B3sHBHH4sB",
                           0xEE,                 # WP pin: not used
                           b"\x00\x00\x00",      # SPI pin drive settings
                           chip_id,
                           min_rev // 100,       # min chip revision (legacy: the major)
                           min_rev,              # min chip revision, full
                           max_rev,              # max chip revision, full (0xFFFF: none)
                           b"\x00" * 4,          # reserved
                           1 if hash_appended else 0)
        assert len(out) == ESP32_HEADER_BYTES

    checksum = CHECKSUM_SEED
    for i, length in enumerate(split_lengths(data_total, segments)):
        data = random_bytes(rng, length)
        if i == 0 and app_desc is not None:
            if length < APP_DESC_BYTES:
                fail("the first segment is %d bytes, too small for the %d-byte app descriptor: "
                     "give a larger --size or --no-app-desc" % (length, APP_DESC_BYTES))
            data = app_desc + data[APP_DESC_BYTES:]
        load = loads[i % len(loads)] + 0x10000 * (i // len(loads))
        out += struct.pack("<II", load, length)
        out += data
        for b in data:
            checksum ^= b

    # esptool: pad with zeros so that the checksum byte ends a 16-byte block.
    out += b"\x00" * (15 - len(out) % 16)
    out.append(checksum)
    if hash_appended:
        out += hashlib.sha256(out).digest()
    assert len(out) == size, (len(out), size)
    return bytes(out)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="mkimage.py",
        description="Write a synthetic but structurally valid ESP8266/ESP32 firmware "
                    "image (deterministic: same arguments, same bytes).",
        epilog="Sizes are rounded up to a multiple of 16 (esptool/elf2bin images always "
               "are). --size counts the uncompressed image including any SHA-256 trailer. "
               "Chips: " + ", ".join(sorted(ESP32_CHIP_IDS)) + ".")
    p.add_argument("--platform", required=True, choices=["esp8266", "esp32"])
    p.add_argument("--size", required=True, type=int, metavar="BYTES",
                   help="size of the (uncompressed) image in bytes")
    p.add_argument("--flash-size", metavar="SIZE",
                   help="flash size in the header: esp8266 512K|256K|1M|2M|4M|8M|16M "
                        "(default 4M), esp32 1M|2M|4M|8M|16M|32M|64M|128M (default 4M)")
    p.add_argument("--flash-mode", type=int, default=2, metavar="0-3",
                   help="flash mode byte: 0 QIO, 1 QOUT, 2 DIO (default), 3 DOUT")
    p.add_argument("--chip", default="esp32", metavar="CHIP",
                   help="esp32 only: target chip (default esp32)")
    p.add_argument("--chip-id", type=int, metavar="N",
                   help="esp32 only: raw chip id, overrides --chip (for negative tests)")
    p.add_argument("--hash-appended", action="store_true",
                   help="esp32 only: set byte 23 and append the image's SHA-256")
    p.add_argument("--segments", type=int, default=0, metavar="N",
                   help="segment count 1-16 (default: 3, or 1 when the image is tiny)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed for the segment contents (default 0)")
    p.add_argument("--gzip", action="store_true",
                   help="write the image gzip-compressed (fixed header, mtime 0); "
                        "otad accepts this for esp8266 sketches only")
    p.add_argument("--no-app-desc", action="store_true",
                   help="esp32 only: no app descriptor (an image from before IDF 3.2)")
    p.add_argument("--app-version", metavar="V",
                   help="esp32 only: an ESP-IDF app's descriptor with this version "
                        "(default: arduino-esp32's framework descriptor)")
    p.add_argument("--app-project", metavar="NAME",
                   help="esp32 only: the descriptor's project name (default otad-test with "
                        "--app-version, else arduino-lib-builder)")
    p.add_argument("--secure-version", type=int, default=0, metavar="N",
                   help="esp32 only: the descriptor's anti-rollback secure_version (default 0)")
    p.add_argument("--idf-version", default=DEFAULT_IDF_VERSION, metavar="V",
                   help="esp32 only: the descriptor's IDF version (default %s)"
                        % DEFAULT_IDF_VERSION)
    p.add_argument("--elf-sha256", metavar="HEX",
                   help="esp32 only: the descriptor's ELF SHA-256, 64 hex digits (default: "
                        "derived from --seed)")
    p.add_argument("--min-chip-rev", type=int, default=0, metavar="N",
                   help="esp32 only: minimum chip revision, major*100+minor (default 0: any)")
    p.add_argument("--max-chip-rev", type=int, default=0, metavar="N",
                   help="esp32 only: maximum chip revision, major*100+minor (default 0: none, "
                        "written as 0xFFFF)")
    p.add_argument("out", metavar="OUT", help="output file ('-' for stdout)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    platform = args.platform

    if args.size <= 0:
        fail("--size must be positive")
    size = args.size
    if size % 16:
        size += 16 - size % 16
        print("mkimage.py: --size %d rounded up to %d (a multiple of 16)" % (args.size, size),
              file=sys.stderr)

    if not 0 <= args.flash_mode <= 3:
        fail("--flash-mode must be 0-3")

    codes = ESP8266_FLASH_SIZE_CODES if platform == "esp8266" else ESP32_FLASH_SIZE_CODES
    flash_size = (args.flash_size or "4M").upper()
    if flash_size not in codes:
        fail("--flash-size %s is not one of %s for %s"
             % (args.flash_size, "|".join(codes), platform))

    chip_id = 0
    if platform == "esp32":
        if args.chip_id is not None:
            if not 0 <= args.chip_id <= 0xFFFF:
                fail("--chip-id must be 0-65535")
            chip_id = args.chip_id
        else:
            chip = args.chip.lower().replace("-", "")
            if chip not in ESP32_CHIP_IDS:
                fail("--chip %s is not one of %s" % (args.chip, ", ".join(sorted(ESP32_CHIP_IDS))))
            chip_id = ESP32_CHIP_IDS[chip]
    elif args.hash_appended or args.chip_id is not None or args.chip != "esp32":
        fail("--chip, --chip-id and --hash-appended apply to esp32 only")
    desc_args = (args.app_version, args.app_project, args.elf_sha256)
    if platform != "esp32" and (args.no_app_desc or any(a is not None for a in desc_args) or
                                args.secure_version or args.min_chip_rev or args.max_chip_rev or
                                args.idf_version != DEFAULT_IDF_VERSION):
        fail("the app descriptor options apply to esp32 only")
    if not 0 <= args.secure_version <= 0xFFFFFFFF:
        fail("--secure-version must be 0-4294967295")
    for name, rev in (("--min-chip-rev", args.min_chip_rev), ("--max-chip-rev", args.max_chip_rev)):
        if not 0 <= rev <= 0xFFFF:
            fail("%s must be 0-65535" % name)
    app_desc = None
    if platform == "esp32" and not args.no_app_desc:
        if args.elf_sha256 is not None:
            try:
                elf = bytes.fromhex(args.elf_sha256)
            except ValueError:
                elf = b""
            if len(elf) != 32:
                fail("--elf-sha256 must be 64 hex digits")
        else:
            elf = hashlib.sha256(b"otad-test elf %d" % args.seed).digest()
        idf_app = args.app_version is not None or args.app_project is not None
        app_desc = app_desc_bytes({
            "secure_version": args.secure_version,
            "version": args.app_version if args.app_version is not None
            else (DEFAULT_APP_VERSION if idf_app else FRAMEWORK_VERSION),
            "project": args.app_project if args.app_project is not None
            else (DEFAULT_APP_PROJECT if idf_app else FRAMEWORK_PROJECT),
            "idf_version": args.idf_version,
            "elf_sha256": elf,
        })
    elif args.no_app_desc and any(a is not None for a in desc_args):
        fail("--no-app-desc excludes the other app descriptor options")

    segments = args.segments
    if segments == 0:
        header_bytes = ESP8266_HEADER_BYTES if platform == "esp8266" else ESP32_HEADER_BYTES
        segments = 3 if size >= header_bytes + 3 * 64 + (32 if args.hash_appended else 0) else 1
    if not 1 <= segments <= MAX_SEGMENTS:
        fail("--segments must be 1-%d" % MAX_SEGMENTS)

    image = build_image(platform, size, segments, args.flash_mode, codes[flash_size], chip_id,
                        args.hash_appended, args.seed, app_desc, args.min_chip_rev,
                        args.max_chip_rev or 0xFFFF)
    if args.gzip:
        image = gzip.compress(image, compresslevel=9, mtime=0)

    if args.out == "-":
        sys.stdout.buffer.write(image)
    else:
        with open(args.out, "wb") as f:
            f.write(image)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
