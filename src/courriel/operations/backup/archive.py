"""The backup file format: zstd-compressed, AES-256-GCM-encrypted, in chunks.

A database dump can be larger than memory, so it is written as a stream of
chunks, each sealed on its own (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár, 2015): chunk *i* is encrypted with the nonce
`prefix ‖ i` and authenticated together with the file's header and a flag
saying whether it is the last chunk. Reordered, dropped, truncated or
appended chunks, and any changed byte, make `read` fail; the last chunk
carries the SHA-256 and length of the plain dump as a second check.

Layout: magic, a 4-byte header length, the header (JSON), then records of a
4-byte length and the sealed chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from courriel.core.errors import CourrielError

MAGIC = b"COURRIEL-BACKUP-1\n"
CHUNK = 1 << 20  # compressed bytes per sealed chunk
_LENGTH = struct.Struct(">I")
_MAX_RECORD = CHUNK + 4096


class BackupError(CourrielError):
    """A backup that cannot be made or read back: wrong key, damaged, truncated."""

    title = "Backup failed"


def key_id(key: bytes) -> str:
    """A short, public name of a backup key, stored in each file to tell keys apart."""
    return hashlib.sha256(b"courriel backup key id\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Sealed:
    """What `write` reports about the file it wrote."""

    plain_bytes: int
    plain_sha256: str
    file_bytes: int


def write(out: IO[bytes], header: dict[str, Any], key: bytes, plain: Iterable[bytes]) -> Sealed:
    """Compress, encrypt and write `plain` (the dump, in pieces) to `out`."""
    header = {**header, "format": 1, "key_id": key_id(key), "chunk": CHUNK}
    prefix = os.urandom(8)
    header["nonce_prefix"] = prefix.hex()
    header_bytes = json.dumps(header, sort_keys=True).encode()
    out.write(MAGIC + _LENGTH.pack(len(header_bytes)) + header_bytes)
    written = len(MAGIC) + _LENGTH.size + len(header_bytes)
    aead = AESGCM(key)
    digest = hashlib.sha256()
    total = 0
    index = 0
    pending = b""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()

    def seal(data: bytes, last: bool) -> int:
        nonlocal index
        nonce = prefix + struct.pack(">I", index)
        aad = header_bytes + struct.pack(">I?", index, last)
        record = aead.encrypt(nonce, data, aad)
        out.write(_LENGTH.pack(len(record)) + record)
        index += 1
        return _LENGTH.size + len(record)

    for piece in plain:
        digest.update(piece)
        total += len(piece)
        pending += compressor.compress(piece)
        while len(pending) >= CHUNK:
            written += seal(pending[:CHUNK], last=False)
            pending = pending[CHUNK:]
    pending += compressor.flush()
    while len(pending) > CHUNK:
        written += seal(pending[:CHUNK], last=False)
        pending = pending[CHUNK:]
    # The last chunk ends with the trailer: the plain dump's length and hash.
    trailer = json.dumps({"bytes": total, "sha256": digest.hexdigest()}).encode()
    written += seal(pending + trailer + _LENGTH.pack(len(trailer)), last=True)
    return Sealed(total, digest.hexdigest(), written)


def read_header(source: IO[bytes]) -> dict[str, Any]:
    """The header of a backup file (readable without the key)."""
    header, _ = _header(source)
    return header


def _header(source: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError("not a Courriel backup file")
    raw = source.read(_LENGTH.size)
    if len(raw) != _LENGTH.size:
        raise BackupError("the backup file is truncated")
    (length,) = _LENGTH.unpack(raw)
    header_bytes = source.read(length)
    if len(header_bytes) != length or length > 65536:
        raise BackupError("the backup file's header is damaged")
    try:
        header: dict[str, Any] = json.loads(header_bytes)
    except ValueError:
        raise BackupError("the backup file's header is damaged") from None
    return header, header_bytes


def _open(
    aead: AESGCM, prefix: bytes, header_bytes: bytes, index: int, record: bytes
) -> tuple[bytes, bool]:
    """Chunk `index` in the clear, and whether it says it is the last one."""
    nonce = prefix + struct.pack(">I", index)
    for last in (False, True):
        try:
            return aead.decrypt(nonce, record, header_bytes + struct.pack(">I?", index, last)), last
        except InvalidTag:
            continue
    raise BackupError(f"chunk {index} of the backup file is damaged")


def read(source: IO[bytes], key: bytes) -> Iterator[bytes]:
    """The plain dump of a backup file, in pieces; raises BackupError on any damage.

    The pieces of a damaged file are yielded up to the damage: callers write
    them somewhere temporary and use them only when the iteration completes.
    """
    header, header_bytes = _header(source)
    if header.get("key_id") != key_id(key):
        raise BackupError(
            f"this backup was made with the key {header.get('key_id')!r}, not {key_id(key)!r}"
        )
    prefix = bytes.fromhex(header["nonce_prefix"])
    aead = AESGCM(key)
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    digest = hashlib.sha256()
    total = 0
    index = 0
    while True:
        raw = source.read(_LENGTH.size)
        if len(raw) != _LENGTH.size:
            raise BackupError("the backup file is truncated")
        (length,) = _LENGTH.unpack(raw)
        record = source.read(length) if length <= _MAX_RECORD else b""
        if len(record) != length:
            raise BackupError("the backup file is truncated or damaged")
        data, last = _open(aead, prefix, header_bytes, index, record)
        index += 1
        if last:
            (size,) = _LENGTH.unpack(data[-_LENGTH.size :])
            trailer = json.loads(data[-_LENGTH.size - size : -_LENGTH.size])
            data = data[: -_LENGTH.size - size]
        piece = decompressor.decompress(data)
        digest.update(piece)
        total += len(piece)
        yield piece
        if last:
            if source.read(1):
                raise BackupError("the backup file has bytes after its end")
            if (total, digest.hexdigest()) != (trailer["bytes"], trailer["sha256"]):
                raise BackupError("the restored dump does not match its checksum")
            return
