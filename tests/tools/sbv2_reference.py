#!/usr/bin/env python3
"""An independent Secure Boot v2 signer and verifier, written from the format
docs/SIGNING.md ("Secure Boot v2") sets down, with Python's `cryptography`
and none of otad's code. The unit tests (tests/unit/signing/test_secure_boot.c)
and the e2e tests (tests/e2e/test_secure_boot.py) hold otad's sectors to it,
and the e2e tests upload images it signed.

    sbv2_reference.py sign --key K.pem [--key K2.pem ...] IMAGE OUT
    sbv2_reference.py verify FILE [--blocks N] [--digest HEX ...] [--image IMAGE]
    sbv2_reference.py digest KEY.pem                  # the eFuse key digest, hex
    sbv2_reference.py reencode FILE                   # every block rebuilt from its signature

Exit status: 0 content, 3 refused (1 is a crash). `verify` exits 0 when every block of FILE is valid (layout, CRC-32, digest,
signature with the key it carries) and prints one line per block: the
scheme and the key digest; --blocks and --digest also demand the count and
the digests, in order; --image demands that FILE is IMAGE padded with 0xFF.
`reencode` rebuilds each block from its public key and signature as
espsecure.py's pre-calculated-signature path does and exits 3 unless every
byte of the file comes out the same.
"""
import argparse
import hashlib
import struct
import sys
import zlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

SECTOR = 4096
BLOCK = 1216
CRC_COVERS = 1196
MAGIC = 0xE7
RSA_VERSION, ECDSA_VERSION = 2, 3
CURVES = {  # curve id: (class, coordinate bytes, hash byte, hash)
    2: (ec.SECP256R1, 32, 0, hashes.SHA256),
    3: (ec.SECP384R1, 48, 1, hashes.SHA384),
}


REFUSED_EXIT = 3  # a file refused; a crash exits 1, so tests can tell the two apart


class Refused(Exception):
    pass


def le(number, length):
    return number.to_bytes(length, "little")


def rsa_part(public):
    n, e = public.public_numbers().n, public.public_numbers().e
    if public.key_size != 3072 or public.public_numbers().e >= 1 << 32:
        raise Refused(f"rsa-{public.key_size}: secure boot v2 takes rsa-3072")
    rinv = pow(2, 2 * 3072, n)
    mdash = (-pow(n, -1, 1 << 32)) % (1 << 32)
    return le(n, 384) + struct.pack("<I", e) + le(rinv, 384) + struct.pack("<I", mdash)


def curve_id(public):
    for cid, (cls, _, _, _) in CURVES.items():
        if isinstance(public.curve, cls):
            return cid
    raise Refused(f"curve {public.curve.name} is not p-256 or p-384")


def ecdsa_part(public):
    cid = curve_id(public)
    size = CURVES[cid][1]
    nums = public.public_numbers()
    return bytes([cid]) + le(nums.x, size) + le(nums.y, size)


def key_part(public):
    return rsa_part(public) if isinstance(public, rsa.RSAPublicKey) else ecdsa_part(public)


def key_digest(public):
    return hashlib.sha256(key_part(public)).hexdigest()


def image_hash(public):
    if isinstance(public, rsa.RSAPublicKey):
        return hashes.SHA256
    return CURVES[curve_id(public)][3]


def make_block(public, digest, signature):
    """A block from a public key, the padded image's digest and a signature
    (RSA: big-endian bytes; ECDSA: DER), with its CRC and zero tail."""
    if isinstance(public, rsa.RSAPublicKey):
        body = bytes([MAGIC, RSA_VERSION, 0, 0]) + digest + rsa_part(public) + signature[::-1]
    else:
        cid = curve_id(public)
        size = CURVES[cid][1]
        r, s = utils.decode_dss_signature(signature)
        body = bytes([MAGIC, ECDSA_VERSION, CURVES[cid][2], 0]) + digest + ecdsa_part(public)
        body += le(r, size) + le(s, size)
    body += bytes(CRC_COVERS - len(body))
    assert len(body) == CRC_COVERS
    return body + struct.pack("<I", zlib.crc32(body)) + bytes(16)


def pad(image):
    return image + b"\xff" * (-len(image) % SECTOR)


def sign(image, private_keys):
    if not 1 <= len(private_keys) <= 3:
        raise Refused("1 to 3 keys")
    padded = pad(image)
    blocks = b""
    for key in private_keys:
        public = key.public_key()
        algorithm = image_hash(public)()
        digest = hashlib.new(algorithm.name, padded).digest()
        if isinstance(key, rsa.RSAPrivateKey):
            sig = key.sign(digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                           utils.Prehashed(hashes.SHA256()))
        else:
            sig = key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))
        blocks += make_block(public, digest, sig)
    return padded + blocks + b"\xff" * (SECTOR - len(blocks))


def parse_block(block, index):
    """(public key, digest, signature as make_block takes it) of a block, checked."""
    if block[0] != MAGIC:
        raise Refused(f"block {index}: magic {block[0]:#x}")
    if struct.unpack("<I", block[CRC_COVERS:CRC_COVERS + 4])[0] != zlib.crc32(block[:CRC_COVERS]):
        raise Refused(f"block {index}: crc")
    if block[CRC_COVERS + 4:] != bytes(16):
        raise Refused(f"block {index}: tail not zero")
    if block[3] != 0:
        raise Refused(f"block {index}: reserved byte")
    if block[1] == RSA_VERSION:
        if block[2] != 0:
            raise Refused(f"block {index}: reserved byte")
        digest, part = block[4:36], block[36:812]
        n = int.from_bytes(part[:384], "little")
        e = struct.unpack("<I", part[384:388])[0]
        try:
            public = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as err:
            raise Refused(f"block {index}: rsa key: {err}") from None
        if rsa_part(public) != part:
            raise Refused(f"block {index}: rinv or m' do not belong to n")
        signature = block[812:1196][::-1]
        return public, digest, signature, part
    if block[1] == ECDSA_VERSION:
        digest_len = 48 if block[2] == 1 else 32
        cid = block[4 + digest_len]
        if cid not in CURVES or CURVES[cid][2] != block[2]:
            raise Refused(f"block {index}: hash {block[2]} with curve {cid}")
        cls, size, _, _ = CURVES[cid]
        digest = block[4:4 + digest_len]
        at = 4 + digest_len
        part = block[at:at + 1 + 2 * size]
        x = int.from_bytes(part[1:1 + size], "little")
        y = int.from_bytes(part[1 + size:], "little")
        try:
            public = ec.EllipticCurvePublicNumbers(x, y, cls()).public_key()
        except ValueError as err:
            raise Refused(f"block {index}: point: {err}") from None
        sig_at = at + 1 + 2 * size
        r = int.from_bytes(block[sig_at:sig_at + size], "little")
        s = int.from_bytes(block[sig_at + size:sig_at + 2 * size], "little")
        if block[sig_at + 2 * size:CRC_COVERS] != bytes(CRC_COVERS - sig_at - 2 * size):
            raise Refused(f"block {index}: padding not zero")
        return public, digest, utils.encode_dss_signature(r, s), part
    raise Refused(f"block {index}: version {block[1]}")


def verify(data):
    """[(scheme, key digest)] of every block of DATA; Refused when anything is wrong."""
    if len(data) < 2 * SECTOR or len(data) % SECTOR:
        raise Refused(f"length {len(data)}")
    padded, sector = data[:-SECTOR], data[-SECTOR:]
    found = []
    count = 0
    while count < 3 and sector[count * BLOCK] == MAGIC:
        count += 1
    if count == 0:
        raise Refused("no signature block")
    if sector[count * BLOCK:] != b"\xff" * (SECTOR - count * BLOCK):
        raise Refused("sector not 0xFF after its blocks")
    for i in range(count):
        public, digest, signature, part = parse_block(sector[i * BLOCK:(i + 1) * BLOCK], i)
        algorithm = image_hash(public)()
        if hashlib.new(algorithm.name, padded).digest() != digest:
            raise Refused(f"block {i}: digest is not the image's")
        try:
            if isinstance(public, rsa.RSAPublicKey):
                public.verify(signature, digest,
                              padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                              utils.Prehashed(hashes.SHA256()))
                scheme = "rsa-3072"
            else:
                public.verify(signature, digest, ec.ECDSA(utils.Prehashed(algorithm)))
                scheme = f"ecdsa-p{public.curve.key_size}"
        except InvalidSignature:
            raise Refused(f"block {i}: signature") from None
        found.append((scheme, hashlib.sha256(part).hexdigest()))
    return found


def reencode(data):
    sector = data[-SECTOR:]
    rebuilt = data[:-SECTOR]
    count = 0
    while count < 3 and sector[count * BLOCK] == MAGIC:
        public, digest, signature, _ = parse_block(sector[count * BLOCK:(count + 1) * BLOCK], count)
        rebuilt += make_block(public, digest, signature)
        count += 1
    rebuilt += b"\xff" * (SECTOR - count * BLOCK)
    return rebuilt


def load_private(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_public(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sign")
    p.add_argument("--key", action="append", required=True)
    p.add_argument("image")
    p.add_argument("out")
    p = sub.add_parser("verify")
    p.add_argument("file")
    p.add_argument("--blocks", type=int)
    p.add_argument("--digest", action="append", default=[])
    p.add_argument("--image")
    p = sub.add_parser("digest")
    p.add_argument("key")
    p = sub.add_parser("reencode")
    p.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.command == "sign":
            with open(args.image, "rb") as f:
                image = f.read()
            with open(args.out, "wb") as f:
                f.write(sign(image, [load_private(k) for k in args.key]))
        elif args.command == "digest":
            print(key_digest(load_public(args.key)))
        elif args.command == "reencode":
            with open(args.file, "rb") as f:
                data = f.read()
            if reencode(data) != data:
                raise Refused("the blocks re-encoded from their signatures differ")
            print("identical")
        else:
            with open(args.file, "rb") as f:
                data = f.read()
            found = verify(data)
            for scheme, digest in found:
                print(scheme, digest)
            if args.blocks is not None and len(found) != args.blocks:
                raise Refused(f"{len(found)} blocks, expected {args.blocks}")
            if args.digest and [d for _, d in found] != [d.lower() for d in args.digest]:
                raise Refused("key digests differ from those expected")
            if args.image:
                with open(args.image, "rb") as f:
                    if pad(f.read()) != data[:-SECTOR]:
                        raise Refused("the signed part is not the image padded with 0xFF")
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return REFUSED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
