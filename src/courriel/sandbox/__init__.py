"""The sandbox internet: local SMTP servers that play the inbox providers.

Development, tests, the demo and benchmarks send real SMTP to simulated
domains (``gmail.test``, ``yahoo.test``, ...). Each provider is an aiosmtpd
server on loopback with a scriptable ``Behaviour``; what it accepts lands in
a ``MailStore`` that other processes can browse; the ``Zone`` file tells the
delivery engine's resolver where each simulated domain's MX really listens.
"""

from courriel.sandbox.behaviour import Behaviour, RecipientRule
from courriel.sandbox.providers import DEFAULT_PROVIDERS, Provider
from courriel.sandbox.server import Sandbox, run_sandbox
from courriel.sandbox.store import MailStore, ReceivedMessage, store_path
from courriel.sandbox.zone import Zone, read_zone, write_zone, zone_path

__all__ = [
    "DEFAULT_PROVIDERS",
    "Behaviour",
    "MailStore",
    "Provider",
    "ReceivedMessage",
    "RecipientRule",
    "Sandbox",
    "Zone",
    "read_zone",
    "run_sandbox",
    "store_path",
    "write_zone",
    "zone_path",
]
