"""Throttle profiles: how fast each inbox provider accepts mail from us.

A lane (all the domains one MX host set serves) gets the profile of the
provider whose MX host names it matches, by suffix: every Google-hosted
domain's MX ends in ``google.com`` or ``googlemail.com``. A lane matching no
provider gets the ``default`` profile. The figures are conservative starting
points for a new sending IP; operators raise them per provider in settings
(``COURRIEL_THROTTLE_PROFILES``, JSON) as their reputation allows.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_PROFILE = "default"


class ThrottleProfile(BaseModel):
    """Limits of one provider's lanes, shared by every worker process."""

    mx_suffixes: list[str] = Field(
        default=[], description="MX host name suffixes that identify the provider."
    )
    max_connections: int = Field(default=4, ge=1, le=500)
    messages_per_connection: int = Field(default=100, ge=1)
    messages_per_minute: int = Field(default=600, ge=1)
    messages_per_hour: int = Field(default=20_000, ge=1)


def default_profiles() -> dict[str, ThrottleProfile]:
    """The built-in profiles (the ``.test`` suffixes are the sandbox internet's)."""
    return {
        "google": ThrottleProfile(
            mx_suffixes=["google.com", "googlemail.com", "google.test"],
            max_connections=10,
            messages_per_connection=100,
            messages_per_minute=3000,
            messages_per_hour=150_000,
        ),
        "yahoo": ThrottleProfile(
            mx_suffixes=["yahoodns.net", "yahoo.com", "yahoo.test"],
            max_connections=5,
            messages_per_connection=50,
            messages_per_minute=1000,
            messages_per_hour=40_000,
        ),
        "microsoft": ThrottleProfile(
            mx_suffixes=["outlook.com", "hotmail.com", "outlook.test"],
            max_connections=5,
            messages_per_connection=100,
            messages_per_minute=1500,
            messages_per_hour=60_000,
        ),
        "apple": ThrottleProfile(
            mx_suffixes=["icloud.com", "me.com", "apple.test"],
            max_connections=4,
            messages_per_connection=50,
            messages_per_minute=600,
            messages_per_hour=20_000,
        ),
        "orange": ThrottleProfile(
            mx_suffixes=["orange.fr", "wanadoo.fr", "orange.test"],
            max_connections=3,
            messages_per_connection=20,
            messages_per_minute=300,
            messages_per_hour=10_000,
        ),
        DEFAULT_PROFILE: ThrottleProfile(),
    }


def profile_for_lane(
    lane: str, profiles: dict[str, ThrottleProfile]
) -> tuple[str, ThrottleProfile]:
    """The provider name and profile of ``lane`` (a comma-joined MX host set)."""
    hosts = [h for h in lane.split(",") if h]
    for name, profile in profiles.items():
        for raw in profile.mx_suffixes:
            suffix = raw.lower().strip(".")
            if any(h == suffix or h.endswith("." + suffix) for h in hosts):
                return name, profile
    return DEFAULT_PROFILE, profiles.get(DEFAULT_PROFILE) or ThrottleProfile()


def provider_name(lane: str | None, profiles: dict[str, ThrottleProfile]) -> str:
    """The inbox provider (throttle profile) a lane belongs to; "unrouted" before MX lookup."""
    return profile_for_lane(lane, profiles)[0] if lane else "unrouted"
