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

Later profiles (rate limits, greylisting, slow or dropped connections) grow
here, behind the same ``Behaviour`` object the server already consults.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEFAULT_RECIPIENT_RULES",
    "REPLY_ACCEPTED_RCPT",
    "REPLY_ACCEPTED_SENDER",
    "REPLY_BAD_SEQUENCE",
    "REPLY_CLOSING",
    "REPLY_LOCAL_ERROR",
    "REPLY_MAILBOX_FULL",
    "REPLY_NO_SERVICE",
    "REPLY_POLICY_BLOCK",
    "REPLY_RELAY_DENIED",
    "REPLY_TRY_AGAIN_LATER",
    "REPLY_UNKNOWN_USER",
    "STAGES",
    "Behaviour",
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

    def rule_reply(self, address: str) -> str | None:
        """The reply the recipient rules give ``address``, or None to accept it."""
        for rule in self.rules:
            if rule.matches(address):
                return rule.reply
        return None
