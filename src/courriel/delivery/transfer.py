"""How a message body is kept in the spool: its DATA transfer form, compressed.

The spool stores what the SMTP client writes after the server's 354: CRLF
lines, leading dots doubled and the terminating ``.CRLF`` added (RFC 5321
§4.5.2, `wire.dot_stuff`). That work is done once, by whoever queues the
message (composers run in parallel), instead of on every attempt in the
delivery worker, and the worker writes the stored bytes as they are.

zstd at level 3 compresses a composed message as well as zlib at level 6 in
about a seventh of the CPU, and decompresses about four times faster. Rows
queued before this format existed hold the composed message, zlib-compressed
(`BodyFormat.ZLIB_MESSAGE`), and are still read.
"""

from __future__ import annotations

import enum
import threading
import zlib

import zstandard

from courriel.core.wire import dot_stuff, unstuff

__all__ = ["BodyFormat", "pack", "stored_message", "transfer_form"]

_LEVEL = 3
# RFC 5321 §4.1.1.4: the line with a single dot that ends the data.
_END = b".\r\n"


class BodyFormat(enum.IntEnum):
    """What the spool's ``body`` column holds; stored in ``body_format``."""

    ZLIB_MESSAGE = 0
    ZSTD_TRANSFER = 1


# zstandard's compressor and decompressor objects are not safe to share
# between threads; enqueues and claims run in worker threads.
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=_LEVEL)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def pack(message: bytes, *, transfer_ready: bool = False) -> bytes:
    """The spool's ``body`` for ``message`` (format `BodyFormat.ZSTD_TRANSFER`).

    ``transfer_ready``: ``message`` needs only the end marker (see `NewMessage`).
    """
    data = message + _END if transfer_ready else dot_stuff(message)
    return _compressor().compress(data)


def transfer_form(body_format: int, body: bytes) -> bytes:
    """The bytes to write after DATA's 354 for a stored ``body``."""
    if body_format == BodyFormat.ZSTD_TRANSFER:
        # compress() records the content size in the frame header, so one
        # allocation of the right size holds the result.
        return _decompressor().decompress(body)
    if body_format == BodyFormat.ZLIB_MESSAGE:
        return dot_stuff(zlib.decompress(body))
    raise ValueError(f"unknown spool body format {body_format}")


def stored_message(body_format: int, body: bytes) -> bytes:
    """The message a stored ``body`` holds, as it was queued (to inspect a queued message).

    The transfer form undone: end marker off, doubled leading dots single
    again; a queued message that had bare CR or LF comes back with CRLF.
    """
    return unstuff(transfer_form(body_format, body)[: -len(_END)])
