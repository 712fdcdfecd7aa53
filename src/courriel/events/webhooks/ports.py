"""What the webhook deliverer asks of the layers above it, as a contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class PayloadStyles(Protocol):
    """Writes stored event bodies in the format each endpoint chose."""

    def render(self, tenant_id: str, items: Sequence[tuple[str, str]]) -> list[str]:
        """The bodies to send for `items`, each (format, stored Courriel body), in order.

        "courriel" bodies gain what the message's sender attached to it
        (``custom_id``, ``event_payload``); "mailjet" ones are rewritten
        with Mailjet's event fields (``event``, ``time``, ``MessageID``,
        ``email``, ``CustomID``, ``Payload``, …). Called once per batch of
        deliveries of one tenant; the result depends only on the event and
        its message, so every retry sends the same bytes.
        """
        ...
