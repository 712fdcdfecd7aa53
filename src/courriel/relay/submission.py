"""The SMTP relay: customers submit their own messages (RFC 6409) with an API key.

Two listeners share one handler: port 587 offers STARTTLS (RFC 3207) and
refuses everything but EHLO, NOOP, STARTTLS and QUIT before it (530), port
465 speaks TLS from the first byte (RFC 8314 §3.3). AUTH PLAIN and LOGIN
(RFC 4954) are offered only inside TLS (538 otherwise), with user name =
API key id and password = its secret; failures are counted per source
address (`FailureThrottle`): a few are free, then each costs a delay and
then a lock, during which AUTH answers 454 without looking at the
credentials. MAIL, RCPT and DATA need a login (530).

Protocol and policy are split as in aiosmtpd: aiosmtpd runs the dialogue
(SIZE, RFC 1870; DATA ends only at CRLF.CRLF, RFC 5321 §4.1.1.4), these
hooks decide. DATA refuses a bare CR or LF anywhere in the message (RFC 5321
§2.3.8): whatever a client meant by `\\n.\\n` or `\\r.\\r\\n`, it was not
the end of the data, and a message carrying it would be read differently
by the next server ("SMTP smuggling"). The 250 comes only after the
message is committed to the spool (`GroupCommit`), so a crash right after
it loses nothing; a failure on our side answers 451 and the client keeps
the message.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import ssl
import warnings
import weakref
from base64 import b64decode
from typing import TYPE_CHECKING, cast

from aiosmtpd.smtp import MISSING, SMTP, AuthResult

from courriel.core.errors import AuthenticationError
from courriel.messages.relayed import PreparedMessage, RefusalKind, RelayedMail, RelayRefusedError
from courriel.relay.commit import GroupCommit
from courriel.relay.protocol import RelaySMTP

if TYPE_CHECKING:
    from aiosmtpd.smtp import Envelope, Session

    from courriel.config import Settings
    from courriel.core.attempts import FailureThrottle
    from courriel.core.principal import Principal

log = logging.getLogger(__name__)

REPLY_AUTH_OK = "235 2.7.0 Authentication successful"
REPLY_AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
REPLY_AUTH_LOCKED = "454 4.7.0 Too many failed logins from your address; try again in {seconds} s"
REPLY_AUTH_MALFORMED = "501 5.5.2 Cannot decode the AUTH response"
REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients; send the rest in another message"
REPLY_BAD_RECIPIENT = "501 5.1.3 Bad recipient address syntax"
REPLY_QUEUED = "250 2.0.0 OK queued as {ids}"
REPLY_BARE_LINE_ENDING = (
    "550 5.6.0 Bare CR or LF in the message; lines must end with CRLF (RFC 5321 2.3.8)"
)
REPLY_SENDER_REFUSED = "550 5.7.1 {detail}"
REPLY_PERMISSION = "550 5.7.1 {detail}"
REPLY_CONTENT_REFUSED = "554 5.6.0 {detail}"
REPLY_LATER = "451 4.7.1 {detail}"
REPLY_LOCAL_ERROR = "451 4.3.0 Local error in processing, try again later"


def has_bare_line_ending(data: bytes) -> bool:
    """Whether a CR or an LF appears other than in a CRLF pair (C-speed counts)."""
    pairs = data.count(b"\r\n")
    return data.count(b"\r") != pairs or data.count(b"\n") != pairs


def _source(session: Session) -> str:
    # The throttle key: the client's address, without its port.
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


class SubmissionHandler:
    """aiosmtpd hooks and AUTH mechanisms of the relay."""

    def __init__(
        self,
        relayed: RelayedMail,
        throttle: FailureThrottle,
        commits: GroupCommit[PreparedMessage],
        max_recipients: int,
    ) -> None:
        self._relayed = relayed
        self._throttle = throttle
        self._commits = commits
        self._max_recipients = max_recipients

    # AUTH (RFC 4954). aiosmtpd calls a handler's auth_<MECHANISM> in place
    # of its own, so the check can be asynchronous and throttled.

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """PLAIN (RFC 4616): authzid NUL authcid NUL passwd, initial response or challenge."""
        if len(args) > 1:
            blob = _decode(args[1])
        else:
            answer = await server.challenge_auth("")
            if answer is MISSING:
                return AuthResult(success=False, handled=True)
            blob = answer if isinstance(answer, bytes) else None
        parts = blob.split(b"\0") if blob is not None else []
        if len(parts) != 3:  # authzid, authcid, passwd (RFC 4616)
            return AuthResult(success=False, handled=False, message=REPLY_AUTH_MALFORMED)
        return await self._login(server, parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """LOGIN: user name (initial response or challenge), then password."""
        if len(args) > 1:
            login = _decode(args[1])
        else:
            answer = await server.challenge_auth("Username:")
            if answer is MISSING:
                return AuthResult(success=False, handled=True)
            login = answer if isinstance(answer, bytes) else None
        if login is None:
            return AuthResult(success=False, handled=False, message=REPLY_AUTH_MALFORMED)
        password = await server.challenge_auth("Password:")
        if password is MISSING or not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._login(server, login, password)

    async def _login(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        assert server.session is not None
        source = _source(server.session)
        # A delayed or locked address is answered at once without the
        # credentials being looked at: guessing gains nothing while it waits.
        wait = self._throttle.wait(source)
        if wait > 0:
            return AuthResult(
                success=False,
                handled=False,
                message=REPLY_AUTH_LOCKED.format(seconds=max(1, round(wait))),
            )
        try:
            principal = await asyncio.to_thread(
                self._relayed.authenticate,
                login.decode("utf-8"),
                password.decode("utf-8"),
            )
        except (AuthenticationError, UnicodeDecodeError):
            self._throttle.failed(source)
            # The source address is ours to log; the user name and password are not.
            log.info("relay: failed login from %s", source)
            return AuthResult(success=False, handled=False, message=REPLY_AUTH_INVALID)
        self._throttle.succeeded(source)
        return AuthResult(success=True, auth_data=principal, message=REPLY_AUTH_OK)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _rcpt_options: list[str],
    ) -> str:
        """Accept up to `max_recipients` addresses with a domain."""
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return REPLY_TOO_MANY_RECIPIENTS
        local, at, domain = address.rpartition("@")
        if not at or not local or "." not in domain:
            return REPLY_BAD_RECIPIENT
        envelope.rcpt_tos.append(address)
        return REPLY_RCPT_OK

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, _server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Refuse smuggling forms, prepare and sign, commit, then say 250."""
        data = envelope.original_content or b""
        if has_bare_line_ending(data):
            log.info("relay: refused a message with a bare CR or LF from %s", _source(session))
            return REPLY_BARE_LINE_ENDING
        principal = cast("Principal", session.auth_data)
        try:
            prepared = await asyncio.to_thread(
                self._relayed.prepare, principal, list(envelope.rcpt_tos), data
            )
        except RelayRefusedError as refusal:
            return _refusal_reply(refusal)
        except Exception:
            log.exception("relay: could not prepare a message")
            return REPLY_LOCAL_ERROR
        try:
            await self._commits.submit(prepared)
        except Exception:
            log.exception("relay: could not spool a message")
            return REPLY_LOCAL_ERROR
        ids = prepared.message_ids
        shown = ids[0] if len(ids) == 1 else f"{ids[0]} (+{len(ids) - 1} more)"
        return REPLY_QUEUED.format(ids=shown)


def _decode(text: str) -> bytes | None:
    try:
        return b64decode(text, validate=True)
    except binascii.Error:
        return None


def _refusal_reply(refusal: RelayRefusedError) -> str:
    # One line, printable: the detail names the customer's own domain or header.
    detail = " ".join(refusal.detail.split())[:400]
    if refusal.kind is RefusalKind.SENDER:
        return REPLY_SENDER_REFUSED.format(detail=detail)
    if refusal.kind is RefusalKind.PERMISSION:
        return REPLY_PERMISSION.format(detail=detail)
    if refusal.kind is RefusalKind.LATER:
        return REPLY_LATER.format(detail=detail)
    return REPLY_CONTENT_REFUSED.format(detail=detail)


class RelayServer:
    """The relay's listeners (STARTTLS and implicit TLS) on the current event loop."""

    def __init__(
        self,
        relayed: RelayedMail,
        throttle: FailureThrottle,
        settings: Settings,
        tls_context: ssl.SSLContext,
    ) -> None:
        self._handler = SubmissionHandler(
            relayed, throttle, GroupCommit(relayed.commit), settings.relay_max_recipients
        )
        self._settings = settings
        self._tls = tls_context
        self._servers: list[asyncio.Server] = []
        # Open sessions, so `stop` can close them (Python 3.11's Server cannot).
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.starttls_address: tuple[str, int] | None = None
        self.tls_address: tuple[str, int] | None = None

    def _protocol(self, *, implicit_tls: bool) -> SMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns when AUTH does not require STARTTLS; on 465 the
            # transport is TLS from the first byte, which it cannot see.
            warnings.simplefilter("ignore", UserWarning)
            session = self._smtp(implicit_tls=implicit_tls)
        self._sessions.add(session)
        return session

    def _smtp(self, *, implicit_tls: bool) -> SMTP:
        settings = self._settings
        return RelaySMTP(
            self._handler,
            hostname=settings.helo_name,
            ident="Courriel relay",
            data_size_limit=settings.relay_max_message_bytes,
            decode_data=False,
            enable_SMTPUTF8=True,
            # On 465 the whole connection is TLS already: no STARTTLS to offer,
            # and AUTH is inside TLS by construction.
            tls_context=None if implicit_tls else self._tls,
            require_starttls=not implicit_tls,
            auth_required=True,
            auth_require_tls=not implicit_tls,
            loop=asyncio.get_running_loop(),
        )

    async def start(self, port: int | None = None, tls_port: int | None = None) -> None:
        """Listen on the configured ports (or these; 0 picks a free one, None: settings)."""
        loop = asyncio.get_running_loop()
        settings = self._settings
        starttls = settings.relay_port if port is None else port
        implicit = settings.relay_tls_port if tls_port is None else tls_port
        if starttls or port == 0:
            server = await loop.create_server(
                lambda: self._protocol(implicit_tls=False),
                settings.relay_host,
                starttls,
                # Several relay processes may share the port (`relay_processes`).
                reuse_port=True,
            )
            self._servers.append(server)
            self.starttls_address = _bound(server)
        if implicit or tls_port == 0:
            server = await loop.create_server(
                lambda: self._protocol(implicit_tls=True),
                settings.relay_host,
                implicit,
                ssl=self._tls,
                reuse_port=True,
            )
            self._servers.append(server)
            self.tls_address = _bound(server)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        for server in self._servers:
            server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers = []


def _bound(server: asyncio.Server) -> tuple[str, int]:
    ip, port = server.sockets[0].getsockname()[:2]
    return (str(ip), int(port))
