"""Composing cost per message on one core: render + links + MIME + DKIM.

A 30 KB MJML template with 10 variables (contact.first_name, city, plan,
since, points, email, campaign.name, view_online_url, unsubscribe_url,
preferences_url), a loop over the contact's orders and 35 tracked links is
compiled once (MJML,
CSS inlining, Jinja), then composed for many recipients, each message
personalized, tracked (click URLs and pixel), encoded as
multipart/alternative and signed with RSA-2048 and Ed25519 keys. The raw
`cryptography` RSA-2048 signing rate is measured in the same run, since the
target is a share of it (the signature is the floor of the cost).

Rates are per CPU second of this process (`time.process_time`), on one
core (`sched_setaffinity`): on a shared machine, wall-clock time also counts
the time other processes hold the core. Composing and raw signing run in
alternating slices so both see the same machine; the wall-clock rates are
printed too, and agree with the CPU rates on a quiet machine.

Run: .venv/bin/python bench/compose.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from common import peak_rss_mb, report
from courriel.content import dkim
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.models import DkimAlgorithm
from courriel.content.service import TemplateContent, build_version

SECTION = """
<mj-section background-color="#ffffff" padding="20px">
  <mj-column>
    <mj-text font-size="16px" color="#333333" css-class="lead">
      {n}. Here is what is new this month, with offers picked for our members.
      Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor
      incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis
      nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.
    </mj-text>
    <mj-button href="https://shop.example.test/offers/{n}?utm_source=courriel&amp;utm_medium=email">
      See offer {n}
    </mj-button>
  </mj-column>
</mj-section>
"""

LOOP = """
<mj-raw>{% for order in contact.orders %}</mj-raw>
<mj-section padding="4px 20px">
  <mj-column>
    <mj-text>Order {{ order.number }}: {{ order.total|currency("EUR") }}
      placed on {{ order.date|date("long") }}</mj-text>
  </mj-column>
</mj-section>
<mj-raw>{% endfor %}</mj-raw>
"""

HEAD = """<mjml>
<mj-head>
  <mj-title>{{ campaign.name }}</mj-title>
  <mj-style>.lead div { line-height: 1.5; } a { color: #0b5fff; }</mj-style>
</mj-head>
<mj-body background-color="#f4f4f4">
<mj-section><mj-column><mj-text>
  <a href="{{ view_online_url }}">View online</a>
  Dear {{ contact.first_name }}, news from {{ contact.city|default("your city") }}:
  · {{ contact.plan|default("Basic") }} member
  since {{ contact.since|date("medium") }} · {{ contact.points|number }} points
</mj-text></mj-column></mj-section>
"""

FOOT = """
<mj-section><mj-column><mj-text font-size="11px">
  You receive this as {{ contact.email }}.
  <a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a>
</mj-text></mj-column></mj-section>
</mj-body></mjml>
"""


def template_source(target_bytes: int = 30_000) -> str:
    """MJML of about `target_bytes`, with 10 variables and a loop."""
    sections: list[str] = []
    n = 1
    while len(HEAD) + len(LOOP) + len(FOOT) + sum(map(len, sections)) < target_bytes:
        sections.append(SECTION.format(n=n))
        n += 1
    half = len(sections) // 2
    return HEAD + "".join(sections[:half]) + LOOP + "".join(sections[half:]) + FOOT


class Rate:
    """Operations, CPU seconds and wall seconds, summed over slices."""

    def __init__(self) -> None:
        self.count = 0
        self.cpu = 0.0
        self.wall = 0.0

    def run(self, operation: Callable[[int], object], seconds: float) -> None:
        """Repeat `operation(n)` for about `seconds` of CPU time."""
        cpu, wall = time.process_time(), time.perf_counter()
        while time.process_time() - cpu < seconds:
            operation(self.count)
            self.count += 1
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall

    @property
    def per_cpu_second(self) -> float:
        return self.count / self.cpu

    @property
    def per_wall_second(self) -> float:
        return self.count / self.wall


def raw_signer() -> Callable[[int], object]:
    """One RSA-2048 PKCS#1 v1.5 SHA-256 signature with `cryptography`, per call."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = os.urandom(600)
    return lambda _n: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def composer() -> tuple[Callable[[int], bytes], int, int]:
    """Composing one message per call (recipient n), plus the MJML and compiled HTML sizes."""
    source = template_source()
    now = dt.datetime.now(dt.UTC)
    version, _links = build_version(
        "tpl_bench",
        1,
        TemplateContent(subject="{{ contact.first_name }}, your {{ campaign.name }}", mjml=source),
        now,
    )
    signers = [
        dkim.DkimSigner("shop.example.test", "r1", a, dkim.generate_private_key(a))
        for a in (DkimAlgorithm.RSA_SHA256, DkimAlgorithm.ED25519_SHA256)
    ]
    composer = Composer(
        version,
        Sender(email="news@shop.example.test", name="Shop Élodie", return_path_domain="b.test"),
        SendContext(
            tenant_id="ten_" + "a" * 26,
            public_url="https://mail.example.test",
            secret_key=os.urandom(32),
            campaign_id="cmp_" + "b" * 26,
            campaign={"name": "Winter sale"},
            mailing_list={"name": "News"},
        ),
        signers,
    )
    orders = [
        {"number": 1000 + i, "total": 19.9 * (i + 1), "date": "2026-10-0" + str(i + 1)}
        for i in range(3)
    ]

    def compose(count: int) -> bytes:
        recipient = Recipient(
            message_id=f"msg_{count:026d}",
            email=f"person{count}@example.test",
            name="Zoë Martin",
            contact=contact_context(
                {"email": f"person{count}@example.test", "first_name": "Zoë", "last_name": "M"},
                {
                    "city": "Lyon",
                    "plan": "Gold",
                    "points": 12345,
                    "since": "2021-05-04",
                    "orders": orders,
                },
                {},
            ),
            language="fr",
        )
        return composer.compose(recipient, now)

    return compose, len(source), len(version.html)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds composing")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    compose, mjml_bytes, html_bytes = composer()
    sign = raw_signer()
    size = len(compose(0))
    messages, raw = Rate(), Rate()
    slices = 10
    for _ in range(slices):
        raw.run(sign, args.seconds / slices / 2)
        messages.run(compose, args.seconds / slices)
    print(f"template: {mjml_bytes} bytes of MJML -> {html_bytes} bytes of HTML")
    print(f"message: {size} bytes; signatures per message: RSA-2048 + Ed25519")
    print(
        f"CPU per message: {1000 / messages.per_cpu_second:.3f} ms composing, of which a raw "
        f"RSA-2048 signature is {1000 / raw.per_cpu_second:.3f} ms"
    )
    print(
        f"wall clock: {messages.per_wall_second:.1f} messages/s, "
        f"{raw.per_wall_second:.1f} raw signatures/s (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"share of the raw RSA rate: {messages.per_cpu_second / raw.per_cpu_second:.0%}")
    print(f"peak RSS: {peak_rss_mb()} MB")
    report(
        "compose",
        {
            "messages_per_s": round(messages.per_cpu_second, 1),
            "raw_sign_per_s": round(raw.per_cpu_second, 1),
        },
    )


if __name__ == "__main__":
    main()
