"""Spool bodies are kept in their DATA transfer form; older zlib rows still go out.

The receiving side (the sandbox's real SMTP server) must get exactly the
composed message back, whichever form the row was stored in.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import update

from courriel.core.db import transaction
from courriel.core.wire import dot_stuff, is_transfer_ready, unstuff
from courriel.delivery.models import SpoolMessage
from courriel.delivery.transfer import BodyFormat, pack, stored_message, transfer_form
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import Mailer, body

# Lines that start with a dot, a bare LF and no final line break: each
# needs the transfer form's care (RFC 5321 §4.5.2, and no SMTP smuggling).
AWKWARD = b"Subject: dots\r\n\r\n.first\r\nmiddle\n.\nlast."


def test_stored_form_is_the_dot_stuffed_message() -> None:
    stored = pack(AWKWARD)
    assert transfer_form(BodyFormat.ZSTD_TRANSFER, stored) == dot_stuff(AWKWARD)
    assert dot_stuff(AWKWARD).endswith(b"\r\nlast.\r\n.\r\n")
    assert b"\r\n..first\r\n" in dot_stuff(AWKWARD)


def test_a_stored_message_reads_back_as_queued() -> None:
    crlf = AWKWARD.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"
    assert stored_message(BodyFormat.ZSTD_TRANSFER, pack(AWKWARD)) == crlf
    assert stored_message(BodyFormat.ZLIB_MESSAGE, zlib.compress(crlf)) == crlf


def test_a_transfer_ready_message_gets_only_the_end_marker() -> None:
    ready = b"Subject: x\r\n\r\nplain\r\n"
    assert transfer_form(BodyFormat.ZSTD_TRANSFER, pack(ready, transfer_ready=True)) == (
        dot_stuff(ready)
    )


def test_compressed_smaller_than_the_message() -> None:
    message = body("ada@gmail.test", "msg_1") * 50
    assert len(pack(message)) < len(message) / 5


def test_unknown_body_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown spool body format 7"):
        transfer_form(7, pack(b"x"))


def test_message_queued_by_older_code_is_delivered_unchanged(
    services: Services, sandbox: Sandbox, mailer: Mailer, deliver: Callable[[], None]
) -> None:
    [message_id] = mailer.send(["ada@gmail.test"])
    composed = body("ada@gmail.test", message_id) + b".a line with a leading dot\r\n"
    # Rewrite the row as code before body_format wrote it: zlib, not stuffed.
    with transaction(services.spool.sessions) as session:
        session.execute(
            update(SpoolMessage)
            .where(SpoolMessage.message_id == message_id)
            .values(body=zlib.compress(composed, 6), body_format=BodyFormat.ZLIB_MESSAGE)
        )
    deliver()
    assert mailer.types("ada@gmail.test") == ["queued", "delivered"]
    [received] = sandbox.store.inbox("ada@gmail.test")
    assert received.data.endswith(composed)


def test_new_message_is_stored_in_transfer_form_and_received_unchanged(
    services: Services, sandbox: Sandbox, mailer: Mailer, deliver: Callable[[], None]
) -> None:
    [message_id] = mailer.send(["bea@gmail.test"])
    with services.spool.sessions() as session:
        row = session.query(SpoolMessage).filter_by(message_id=message_id).one()
        assert row.body_format == BodyFormat.ZSTD_TRANSFER
    deliver()
    [received] = sandbox.store.inbox("bea@gmail.test")
    assert received.data.endswith(body("bea@gmail.test", message_id))


@given(st.lists(st.sampled_from([b".", b"\r\n", b"\n", b"\r", b"a", b"..", b"\r\n."]), max_size=30))
@example([b".", b"\r\n", b"..", b"\r\n"])
def test_unstuff_undoes_dot_stuffing_and_readiness_means_only_the_marker(
    pieces: list[bytes],
) -> None:
    data = b"".join(pieces)
    stuffed = dot_stuff(data)
    crlf = stuffed[: -len(b".\r\n")]
    assert unstuff(crlf) == data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(
        b"\n", b"\r\n"
    ) + (b"" if data.endswith((b"\r", b"\n")) else b"\r\n")
    assert is_transfer_ready(data) == (stuffed == data + b".\r\n")
