"""The sandbox's message-data reader against the RFC's own definition.

RFC 5321 §4.1.1.4: the data ends at the first CRLF "." CRLF, where the
first CRLF may be the one that ended the DATA command. Whatever the bytes
and however TCP splits them, the reader must stop exactly there and leave
what follows (pipelined commands, RFC 2920) in the stream.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courriel.core.wire import unstuff
from courriel.sandbox.data import has_long_line, read_message_data

END = b"\r\n.\r\n"


def expected(wire: bytes) -> tuple[bytes, bytes]:
    """(data, what follows) by the RFC: the first CRLF.CRLF after the DATA line's CRLF."""
    framed = b"\r\n" + wire
    end = framed.find(END)
    assert end >= 0
    return framed[2 : end + 2], framed[end + len(END) :]


def read(wire: bytes, cuts: list[int], limit: int = 1 << 20) -> tuple[bytes, bytes]:
    async def scenario() -> tuple[bytes, bytes]:
        reader = asyncio.StreamReader(limit=limit + 3)
        points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})

        async def feed() -> None:
            for a, b in itertools.pairwise(points):
                reader.feed_data(wire[a:b])
                await asyncio.sleep(0)
            reader.feed_eof()

        feeding = asyncio.create_task(feed())
        data = await read_message_data(reader, limit)
        await feeding
        return data, await reader.read()

    return asyncio.run(scenario())


# Bytes rich in what matters: CR, LF, dots and the end marker's pieces.
pieces = st.sampled_from([b"\r", b"\n", b".", b"\r\n", b"\r\n.", b".\r\n", b"a", b"bc", END])
wires = st.lists(pieces, max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(wires, wires, st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_stops_exactly_at_the_first_crlf_dot_crlf(
    body: bytes, after: bytes, cuts: list[int]
) -> None:
    wire = body + END + after
    assert read(wire, cuts) == expected(wire)


@pytest.mark.parametrize(
    ("wire", "data"),
    [
        (b".\r\n", b""),  # An empty message: the marker right after DATA.
        (b"\r\n.\r\n", b"\r\n"),  # One empty line.
        (b"x.\r\n.\r\n", b"x.\r\n"),  # A line ending in a dot is data.
        (b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n"),  # LF.CRLF is not the end.
        (b"a\r.\r\nb\r\n.\r\n", b"a\r.\r\nb\r\n"),  # CR.CRLF is not the end.
        (b"..\r\n.\r\n", b"..\r\n"),  # A stuffed lone dot.
    ],
)
def test_edge_cases_end_where_the_rfc_says(wire: bytes, data: bytes) -> None:
    assert read(wire + b"QUIT\r\n", [1, 2, 3]) == (data, b"QUIT\r\n")


def test_a_client_that_goes_away_mid_data_is_an_incomplete_read() -> None:
    async def scenario() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"Subject: cut\r\n\r\nhalf a mess")
        reader.feed_eof()
        await read_message_data(reader, 1 << 20)

    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(scenario())


def test_more_than_the_limit_is_refused() -> None:
    wire = (b"x" * 70 + b"\r\n") * 100 + END
    with pytest.raises(asyncio.LimitOverrunError):
        read(wire, [], limit=1000)


def test_unstuff_removes_one_leading_dot_per_line() -> None:
    assert unstuff(b"..a\r\n...b\r\nc.\r\n") == b".a\r\n..b\r\nc.\r\n"


lines = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1300),
        st.sampled_from([b"\r\n", b"\n", b"\r"]),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(lines, st.sampled_from([76, 998, 999, 1000]))
def test_long_line_check_agrees_with_splitting(
    shape: list[tuple[int, bytes]], longest: int
) -> None:
    data = b"".join(b"y" * n + sep for n, sep in shape)
    assert has_long_line(data, longest) == (
        bool(data) and max(map(len, data.split(b"\r\n"))) > longest
    )
