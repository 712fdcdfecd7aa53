"""A sandbox zone with the mail domains list hygiene tells apart."""

from __future__ import annotations

import json
from pathlib import Path

from courriel.config import Settings
from courriel.sandbox.zone import zone_path

DOMAINS = {
    "live.test": [["mx.live.test", 10]],
    # RFC 7505: "MX 0 ." says the domain accepts no mail.
    "nullmx.test": [[".", 0]],
    # No MX and no address: no mail server at all.
    "nomail.test": [],
    # No MX, but an address record: the implicit MX of RFC 5321 §5.1.
    "webonly.test": [],
}


def write_hygiene_zone(settings: Settings) -> Path:
    """Publish the zone where the services' resolver reads it; its path."""
    path = zone_path(Path(settings.data_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "domains": DOMAINS,
        "hosts": {"mx.live.test": ["127.0.0.1", 9]},
        "records": {"webonly.test": {"A": ["192.0.2.10"]}},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
