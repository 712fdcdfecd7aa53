"""Simulated recipients and late bounces: what happens after a message is accepted.

Real inbox providers accept a message and only later say it bounced (a
delivery status notification, RFC 3464) or that the recipient pressed "this
is spam" (a feedback report, RFC 5965); real people open, click and
unsubscribe. The sandbox does the same, asynchronously, on its own loop:

- recipients whose local part starts with ``bounce-later-`` (or a
  ``bounce_later_rate`` share of them) make the provider send a DSN to the
  message's return path; ``complain-`` (or ``complaint_rate``) an ARF report;
- ``trap-`` addresses are spam traps: the provider accepts the message
  like any other, and its trap network sends an ARF report marked with the
  ``Spam-Trap: yes`` extension field (RFC 5965 reports may carry fields
  beyond its own), the way a sender learns of trap hits from a feedback loop;
- an ``open_rate`` share fetch the tracking pixel, a ``click_rate`` share
  (and ``click-`` addresses) follow the first tracked link, an
  ``unsubscribe_rate`` share (and ``unsubscribe-`` addresses) POST
  ``List-Unsubscribe=One-Click`` to the List-Unsubscribe URL (RFC 8058).

They act like mail clients: by finding the pixel, the links and the
List-Unsubscribe header in the message they received, and calling them over
HTTP. DSNs and reports go by SMTP to ``return_to``, Courriel's return-path
server (unset: none are sent). Tests wait for them with `drain` and read
`actions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

import aiosmtplib
import httpx

from courriel.sandbox.behaviour import chosen

if TYPE_CHECKING:
    from email.message import EmailMessage

    from courriel.sandbox.behaviour import Behaviour

__all__ = ["Action", "SimulatedRecipients", "build_arf", "build_dsn", "build_trap_report"]

log = logging.getLogger(__name__)

_PIXEL = re.compile(r"""<img[^>]+src=["']([^"']*/t/o/[^"']+)["']""", re.IGNORECASE)
_LINK = re.compile(r"""<a[^>]+href=["']([^"']*/t/c/[^"']+)["']""", re.IGNORECASE)
_ANGLE_URL = re.compile(r"<(https?://[^>]+)>")


@dataclass(frozen=True)
class Action:
    """Something a simulated recipient (or its provider) did; ``result`` is the reply."""

    kind: str
    rcpt: str
    target: str
    result: str


@dataclass(frozen=True)
class _Job:
    kind: str
    provider_host: str
    mail_from: str
    rcpt: str
    content: bytes


class SimulatedRecipients:
    """Reacts to accepted messages, in the background of the sandbox's loop."""

    def __init__(self, behaviours: dict[str, Behaviour]) -> None:
        self._behaviours = behaviours
        self.return_to: tuple[str, int] | None = None
        self.actions: list[Action] = []
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reacting (on the running loop)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop reacting; what is still queued is dropped."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> None:
        """Wait until every reaction queued so far is done."""
        await self._queue.join()

    def received(
        self, provider: str, provider_host: str, mail_from: str, rcpt: str, content: bytes
    ) -> None:
        """A message was stored for ``rcpt``: queue what its recipient will do."""
        profile = self._behaviours[provider].profile(rcpt.rpartition("@")[2])
        local = rcpt.rpartition("@")[0].lower()
        kinds = []
        if local.startswith("bounce-later-") or chosen(rcpt, "bounce", profile.bounce_later_rate):
            kinds.append("dsn")
        if local.startswith("complain-") or chosen(rcpt, "complain", profile.complaint_rate):
            kinds.append("arf")
        if local.startswith("trap-"):
            kinds.append("trap")
        for kind, rate in (
            ("open", profile.open_rate),
            ("click", profile.click_rate),
            ("unsubscribe", profile.unsubscribe_rate),
        ):
            if local.startswith(f"{kind}-") or chosen(rcpt, kind, rate):
                kinds.append(kind)
        for kind in kinds:
            self._queue.put_nowait(_Job(kind, provider_host, mail_from, rcpt, content))

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
            while True:
                job = await self._queue.get()
                try:
                    result = await self._act(job, http)
                except Exception as exc:  # noqa: BLE001 (a simulator logs and goes on)
                    result = Action(job.kind, job.rcpt, "", f"error: {exc!r}")
                if result is not None:
                    self.actions.append(result)
                self._queue.task_done()

    async def _act(self, job: _Job, http: httpx.AsyncClient) -> Action | None:
        if job.kind in ("dsn", "arf", "trap"):
            return await self._report(job)
        message = BytesParser(policy=email.policy.default).parsebytes(job.content)
        if job.kind == "unsubscribe":
            url = _unsubscribe_url(message)
            if url is None:
                return Action(job.kind, job.rcpt, "", "no List-Unsubscribe URL")
            # RFC 8058 §3.1: a POST with exactly this body, no cookies, no redirects.
            reply = await http.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            return Action(job.kind, job.rcpt, url, str(reply.status_code))
        html = _html(message)
        pattern = _PIXEL if job.kind == "open" else _LINK
        match = pattern.search(html)
        if match is None:
            return Action(job.kind, job.rcpt, "", "no tracked URL")
        url = match.group(1).replace("&amp;", "&")
        reply = await http.get(url)
        return Action(job.kind, job.rcpt, url, str(reply.status_code))

    async def _report(self, job: _Job) -> Action | None:
        if self.return_to is None or not job.mail_from:
            return None
        if job.kind == "dsn":
            report = build_dsn(job.provider_host, job.mail_from, job.rcpt, job.content)
        elif job.kind == "trap":
            report = build_trap_report(job.provider_host, job.mail_from, job.rcpt, job.content)
        else:
            report = build_arf(job.provider_host, job.mail_from, job.rcpt, job.content)
        host, port = self.return_to
        # RFC 3464 §2 / RFC 5321 §4.5.5: notifications use the null reverse-path.
        return Action(
            job.kind,
            job.rcpt,
            job.mail_from,
            await send_null_sender(host, port, job.mail_from, report),
        )


async def send_null_sender(host: str, port: int, rcpt: str, message: bytes) -> str:
    """Send ``message`` with the null reverse-path ``<>``; return the final reply."""
    client = aiosmtplib.SMTP(hostname=host, port=port, timeout=10, start_tls=False)
    async with client:
        _errors, reply = await client.sendmail("", [rcpt], message)
    return reply


def _html(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    if body is None:
        return ""
    with contextlib.suppress(LookupError, UnicodeError):
        return str(body.get_content())
    return ""


def _unsubscribe_url(message: EmailMessage) -> str | None:
    header = str(message.get("List-Unsubscribe", ""))
    if "one-click" not in str(message.get("List-Unsubscribe-Post", "")).lower():
        return None
    match = _ANGLE_URL.search(header)
    return match.group(1) if match else None


def _headers_of(content: bytes) -> bytes:
    head, _, _ = content.partition(b"\r\n\r\n")
    return head + b"\r\n"


def build_dsn(reporting_mta: str, return_path: str, rcpt: str, original: bytes) -> bytes:
    """A failure DSN (RFC 3464) for ``rcpt``: 550 5.1.1, the mailbox does not exist."""
    boundary = "dsn-boundary-courriel-sandbox"
    now = format_datetime(datetime.now(UTC))
    lines = [
        f"From: Mail Delivery Subsystem <mailer-daemon@{reporting_mta}>",
        f"To: {return_path}",
        "Subject: Delivery Status Notification (Failure)",
        f"Date: {now}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "Auto-Submitted: auto-replied",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Your message could not be delivered: the mailbox does not exist.",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {now}",
        "",
        f"Final-Recipient: rfc822; {rcpt}",
        "Action: failed",
        "Status: 5.1.1",
        f"Remote-MTA: dns; {reporting_mta}",
        "Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    tail = f"\r\n--{boundary}--\r\n"
    return "\r\n".join(lines).encode() + b"\r\n" + _headers_of(original) + tail.encode()


def build_arf(
    reporting_mta: str,
    return_path: str,
    rcpt: str,
    original: bytes,
    extra_fields: tuple[str, ...] = (),
) -> bytes:
    """An abuse feedback report (RFC 5965) about ``rcpt`` marking the message as spam."""
    boundary = "arf-boundary-courriel-sandbox"
    lines = [
        f"From: Feedback Loop <fbl@{reporting_mta}>",
        f"To: {return_path}",
        "Subject: FW: complaint about a message",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is an email abuse report for a message received from your network.",
        "",
        f"--{boundary}",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        "User-Agent: CourrielSandboxFBL/1.0",
        "Version: 1",
        f"Original-Mail-From: <{return_path}>",
        f"Original-Rcpt-To: <{rcpt}>",
        f"Reported-Domain: {rcpt.rpartition('@')[2]}",
        *extra_fields,
        "",
        f"--{boundary}",
        "Content-Type: message/rfc822",
        "",
    ]
    tail = f"\r\n--{boundary}--\r\n"
    return "\r\n".join(lines).encode() + b"\r\n" + original.rstrip(b"\r\n") + tail.encode()


def build_trap_report(reporting_mta: str, return_path: str, rcpt: str, original: bytes) -> bytes:
    """A feedback report (RFC 5965) saying ``rcpt`` is a spam trap that got the message.

    No person asked for a trap address, so mail reaching one shows a list
    built from scraped, bought or long-dead addresses. The report is an ARF
    abuse report with the extension field ``Spam-Trap: yes``.
    """
    return build_arf(reporting_mta, return_path, rcpt, original, ("Spam-Trap: yes",))
