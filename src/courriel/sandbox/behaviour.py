"""How a simulated provider answers: scripted failures and recipient rules.

The protocol lives in aiosmtpd and the server module; this module is only
policy: given a stage of the SMTP dialogue (and a recipient), which reply
does the provider give? Two sources, checked in this order:

1. the failure queue, scripted by a test or the demo
   (``behaviour.fail_next("rcpt", 421, "4.7.0 Try later")``), consumed one
   reply per command, like GNU Mailman's test SMTP server;
2. recipient rules keyed on the local part, so any client can provoke an
   outcome just by choosing an address: ``unknown-bob@gmail.test`` does not
   exist, ``full-ann@yahoo.test`` has a full mailbox, and so on.

3. the domain's `Profile` (or the provider's default one): a rate limit
   (421 4.7.0 above N messages a minute), greylisting (451 on a first
   try), slow replies, TLS offered or required, and the rates at which
   simulated recipients open, click, unsubscribe, complain or bounce later.

Connection drops (mid-DATA, or after the final dot without a reply) are
scripted like failures: ``behaviour.drop_next("after-dot")``.

A provider can also play a smart host that relays only for logged-in
clients: ``behaviour.accept_logins({"courriel": "secret"})`` makes it offer
AUTH PLAIN and LOGIN (RFC 4954; over STARTTLS when it offers TLS) and
refuse mail from anyone who has not authenticated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_RECIPIENT_RULES",
    "REPLY_ACCEPTED_RCPT",
    "REPLY_ACCEPTED_SENDER",
    "REPLY_BAD_SEQUENCE",
    "REPLY_CLOSING",
    "REPLY_GREYLISTED",
    "REPLY_LOCAL_ERROR",
    "REPLY_MAILBOX_FULL",
    "REPLY_MAILBOX_FULL_PERMANENT",
    "REPLY_NO_SERVICE",
    "REPLY_POLICY_BLOCK",
    "REPLY_RATE_LIMITED",
    "REPLY_RELAY_DENIED",
    "REPLY_TRY_AGAIN_LATER",
    "REPLY_UNKNOWN_USER",
    "STAGES",
    "Behaviour",
    "Drop",
    "Profile",
    "RecipientRule",
    "Stage",
    "queued_reply",
]

Stage = Literal["connect", "mail", "rcpt", "data"]
"""Where in the dialogue a scripted failure is given.

``connect`` replaces the 220 greeting (RFC 5321 §3.1), ``mail`` and ``rcpt``
answer the next MAIL FROM or RCPT TO command, ``data`` answers the end of
the message data (the final reply of RFC 5321 §4.1.1.4, after the content
was sent, which is where real providers reject spam).
"""

STAGES: tuple[Stage, ...] = get_args(Stage)

# Replies. Enhanced status codes (RFC 3463) are what the delivery engine
# classifies first, so every reply carries one. The texts follow what the
# real providers say, so classification by text is exercised too.
REPLY_ACCEPTED_SENDER = "250 2.1.0 OK"
REPLY_ACCEPTED_RCPT = "250 2.1.5 OK"
REPLY_UNKNOWN_USER = "550 5.1.1 The email account that you tried to reach does not exist"
REPLY_MAILBOX_FULL = "452 4.2.2 Mailbox full"
REPLY_POLICY_BLOCK = "554 5.7.1 Message rejected due to policy"
REPLY_TRY_AGAIN_LATER = "451 4.7.1 Try again later"
REPLY_NO_SERVICE = "554 5.3.2 No SMTP service here"
REPLY_BAD_SEQUENCE = "503 5.5.1 No SMTP service here, only QUIT"
REPLY_CLOSING = "221 2.0.0 Bye"
REPLY_RELAY_DENIED = "550 5.7.1 Relaying denied: this server does not host that domain"
REPLY_LOCAL_ERROR = "451 4.3.0 Local error in processing"
REPLY_MAILBOX_FULL_PERMANENT = "552 5.2.2 Mailbox full, quota exceeded"
REPLY_RATE_LIMITED = "421 4.7.0 Too many messages, try again later; closing connection"
REPLY_GREYLISTED = "451 4.7.1 Greylisted, please try again later"

Drop = Literal["mid-data", "after-dot"]
"""Where a scripted connection drop happens: after the 354 reply, before
the data is read (``mid-data``), or after the message is stored but before
its final reply is sent (``after-dot``: the sender cannot know it arrived,
so it will send it again, the duplicate every MTA must tolerate)."""

TlsMode = Literal["none", "offered", "required"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How a domain's server behaves beyond scripted failures and recipient rules.

    Rates are shares of recipients (0 to 1), chosen by a hash of the address,
    so a test run is reproducible: the same addresses open, click, ...
    """

    rate_limit_per_minute: int | None = None
    greylist: bool = False
    reply_delay_seconds: float = 0.0
    open_rate: float = 0.0
    click_rate: float = 0.0
    unsubscribe_rate: float = 0.0
    complaint_rate: float = 0.0
    bounce_later_rate: float = 0.0


def chosen(address: str, kind: str, rate: float) -> bool:
    """Whether ``address`` is among the ``rate`` share that does ``kind``."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{kind}:{address.lower()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rate


def queued_reply(queue_id: str) -> str:
    """The final reply to an accepted message (RFC 5321 §4.1.1.4)."""
    return f"250 2.0.0 OK queued as {queue_id}"


@dataclass(frozen=True, slots=True)
class RecipientRule:
    """Answer ``reply`` to RCPT TO for local parts starting with ``prefix``."""

    prefix: str
    reply: str

    def matches(self, address: str) -> bool:
        """Whether ``address``'s local part starts with the prefix."""
        local_part = address.rpartition("@")[0]
        return local_part.lower().startswith(self.prefix)


DEFAULT_RECIPIENT_RULES: tuple[RecipientRule, ...] = (
    RecipientRule("unknown-", REPLY_UNKNOWN_USER),
    RecipientRule("full-", REPLY_MAILBOX_FULL),
    RecipientRule("block-", REPLY_POLICY_BLOCK),
    RecipientRule("defer-", REPLY_TRY_AGAIN_LATER),
    RecipientRule("overquota-", REPLY_MAILBOX_FULL_PERMANENT),
)


class Behaviour:
    """The policy of one simulated provider's server.

    Safe to script from any thread: a test or the HTTP API may call
    ``fail_next`` while the server's event loop consumes the queue.
    """

    def __init__(self, rules: Sequence[RecipientRule] = DEFAULT_RECIPIENT_RULES) -> None:
        self.rules: tuple[RecipientRule, ...] = tuple(rules)
        self._lock = threading.Lock()
        self._failures: dict[Stage, deque[str]] = {stage: deque() for stage in STAGES}
        self._drops: deque[Drop] = deque()
        self._profiles: dict[str | None, Profile] = {None: Profile()}
        self._accepted: dict[str, deque[float]] = {}
        self._greylist_seen: set[tuple[str, str, str]] = set()
        self._logins: dict[str, str] = {}
        self.tls: TlsMode = "none"

    def accept_logins(self, logins: Mapping[str, str]) -> None:
        """Require AUTH with one of these user names and passwords (new connections)."""
        with self._lock:
            self._logins = dict(logins)

    @property
    def requires_login(self) -> bool:
        """Whether clients must authenticate before sending mail."""
        with self._lock:
            return bool(self._logins)

    def login_ok(self, username: str, password: str) -> bool:
        """Whether ``username`` and ``password`` are an accepted login."""
        with self._lock:
            expected = self._logins.get(username)
        # Constant time, so the simulator does not teach bad habits.
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def configure(self, domain: str | None = None, **fields: Any) -> Profile:
        """Change the profile of ``domain`` (None: the provider's default); return it.

        ``behaviour.configure(rate_limit_per_minute=30)``,
        ``behaviour.configure("d1.google.test", greylist=True)``.
        """
        with self._lock:
            key = domain.lower() if domain else None
            base = self._profiles.get(key) or self._profiles[None]
            profile = dataclasses.replace(base, **fields)
            self._profiles[key] = profile
            return profile

    def profile(self, domain: str) -> Profile:
        """The profile that applies to ``domain``."""
        with self._lock:
            return self._profiles.get(domain.lower()) or self._profiles[None]

    def drop_next(self, where: Drop, count: int = 1) -> None:
        """Drop the next ``count`` connections at ``where`` (see `Drop`)."""
        with self._lock:
            self._drops.extend([where] * count)

    def take_drop(self, where: Drop) -> bool:
        """Whether a drop at ``where`` is due now, consuming it."""
        with self._lock:
            if self._drops and self._drops[0] == where:
                self._drops.popleft()
                return True
            return False

    def over_rate_limit(self, domain: str, now: float | None = None) -> bool:
        """Count one message for ``domain``; True when it is over the profile's limit.

        A sliding window of 60 seconds: a message refused does not count.
        """
        limit = self.profile(domain).rate_limit_per_minute
        if limit is None:
            return False
        now = time.monotonic() if now is None else now
        key = domain.lower() if domain.lower() in self._profiles else ""
        with self._lock:
            window = self._accepted.setdefault(key, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(now)
            return False

    def first_try(self, client: str, sender: str, rcpt: str) -> bool:
        """Greylisting: True the first time this (client, sender, recipient) is seen."""
        triple = (client, sender.lower(), rcpt.lower())
        with self._lock:
            if triple in self._greylist_seen:
                return False
            self._greylist_seen.add(triple)
            return True

    def fail_next(self, stage: Stage, code: int, text: str, count: int = 1) -> None:
        """Answer the next ``count`` commands of ``stage`` with ``code text``.

        Only failures can be scripted: a 2xx or 3xx here would make the
        server claim a state it is not in.
        """
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if not 400 <= code <= 599:
            raise ValueError(f"a scripted failure needs a 4xx or 5xx code, not {code}")
        if count < 1:
            raise ValueError("count must be at least 1")
        reply = f"{code} {text}".rstrip()
        with self._lock:
            self._failures[stage].extend([reply] * count)

    def take_failure(self, stage: Stage) -> str | None:
        """The next scripted reply for ``stage``, consuming it; None if none."""
        with self._lock:
            queue = self._failures[stage]
            return queue.popleft() if queue else None

    def pending(self, stage: Stage) -> int:
        """How many scripted failures ``stage`` still has."""
        with self._lock:
            return len(self._failures[stage])

    def reset(self) -> None:
        """Drop every scripted failure; the recipient rules stay."""
        with self._lock:
            for queue in self._failures.values():
                queue.clear()
            self._drops.clear()

    def rule_reply(self, address: str) -> str | None:
        """The reply the recipient rules give ``address``, or None to accept it."""
        for rule in self.rules:
            if rule.matches(address):
                return rule.reply
        return None
