"""The mail store: what the simulated mailboxes received, readable from anywhere."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from courriel.sandbox.store import MailStore, store_path

if TYPE_CHECKING:
    from pathlib import Path


def multipart(subject: str, text: str | None, html: str) -> bytes:
    message = EmailMessage()
    message["Subject"] = subject
    if text is None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_one_row_per_recipient_and_counts(tmp_path: Path) -> None:
    with MailStore(store_path(tmp_path)) as store:
        ids = store.add("google", "a@shop.test", ["b@gmail.test", "C@gmail.test"], b"x")
        store.add("yahoo", "a@shop.test", ["d@yahoo.test"], b"y")
        assert len(ids) == 2
        assert store.count() == 3
        assert store.count("c@GMAIL.test") == 1
        assert store.count("nobody@gmail.test") == 0
        assert store.all_recipients() == {"b@gmail.test": 1, "c@gmail.test": 1, "d@yahoo.test": 1}
        received = store.get(ids[1])
        assert received is not None
        assert received.rcpt == "C@gmail.test"
        assert received.provider == "google"
        assert received.received_at.tzinfo is not None
        assert abs(datetime.now(UTC) - received.received_at) < timedelta(minutes=1)
        assert [m.data for m in store.recent()] == [b"y", b"x", b"x"]
        store.clear()
        assert store.count() == 0


def test_subject_and_text_are_decoded(tmp_path: Path) -> None:
    with MailStore(tmp_path / "mail.db") as store:
        store.add("google", "a@shop.test", ["b@gmail.test"], multipart("Été", "Plain", "<p>H</p>"))
        store.add("google", "a@shop.test", ["b@gmail.test"], multipart("Only", None, "<p>H</p>"))
        store.add("google", "a@shop.test", ["b@gmail.test"], b"No headers at all")
        bare, html_only, both = store.inbox("b@gmail.test")
        assert (both.subject, both.text.strip()) == ("Été", "Plain")
        assert (html_only.subject, html_only.text.strip()) == ("Only", "<p>H</p>")
        assert bare.subject == ""


def test_another_store_on_the_same_file_sees_the_mail(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    with MailStore(path) as writer, MailStore(path) as reader:
        writer.add("google", "a@shop.test", ["b@gmail.test"], b"Subject: hi\r\n\r\nx\r\n")
        [received] = reader.inbox("b@gmail.test")
        assert received.subject == "hi"
        # And another process, like `courriel sandbox inbox`, while the
        # writer still holds its connection open.
        code = (
            "import sys, pathlib; from courriel.sandbox.store import MailStore;"
            "print(MailStore(pathlib.Path(sys.argv[1])).count('b@gmail.test'))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert result.stdout.strip() == "1"
