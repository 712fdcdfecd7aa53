"""The one settings schema of Courriel.

Every setting has a default and a description; `docs/configuration.md` is
generated from this class (`courriel config --markdown`) and a test fails when
the file is stale. Environment variables use the prefix ``COURRIEL_``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Effective settings of one Courriel process."""

    model_config = SettingsConfigDict(env_prefix="COURRIEL_", extra="forbid")

    data_dir: Path = Field(
        default=Path("data"),
        description="Directory for the embedded SQLite databases, keys and the sandbox mail store.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL server URL (postgresql+psycopg://user@host:port/dbname). When set, the "
            "control, spool and new tenant databases are created on this server instead of "
            "SQLite files; the database in the URL is only used to create the others."
        ),
    )
    database_prefix: str = Field(
        default="courriel",
        pattern=r"^[a-z][a-z0-9_]{0,30}$",
        description=(
            "Prefix of the PostgreSQL database names (<prefix>_control, <prefix>_spool, "
            "<prefix>_t_<tenant id>), so several installations can share one server."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key for HMAC tokens (API key hashes, tracking and unsubscribe links). When unset, "
            "a random key is created once in <data_dir>/secret.key."
        ),
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    http_port: int = Field(default=8025, ge=1, le=65535, description="Port of the HTTP server.")
    public_url: str = Field(
        default="",
        description=(
            "Base URL recipients and API clients use to reach this installation (links in "
            "mail, tracking, sign-up pages); empty means http://<http_host>:<http_port>."
        ),
    )
    resolver: Literal["dns", "sandbox"] = Field(
        default="dns",
        description=(
            "How the delivery engine finds mail exchangers: real DNS, or the sandbox internet's "
            "zone file (<data_dir>/sandbox/zone.json) with DNS for other domains."
        ),
    )
    sandbox_host: str = Field(
        default="127.0.0.1", description="Loopback address the sandbox SMTP servers bind to."
    )
    sandbox_base_port: int = Field(
        default=2525,
        ge=0,
        le=65535,
        description=(
            "First port of the sandbox SMTP servers (one per provider); 0 picks free ports."
        ),
    )
    helo_name: str = Field(
        default="mta.courriel.test",
        description="Name this installation gives in EHLO (RFC 5321 §4.1.1.1).",
    )
    return_path_domain: str = Field(
        default="bounces.courriel.test",
        description="Domain of the per-message (VERP) return path where bounces come back.",
    )
    smtp_port: int = Field(
        default=25, ge=1, le=65535, description="Port of remote mail exchangers (RFC 5321)."
    )
    smtp_tls: Literal["opportunistic", "required", "off"] = Field(
        default="opportunistic",
        description="STARTTLS use towards mail exchangers: when offered, always, or never.",
    )
    worker_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Spool messages a worker claims at once."
    )
    worker_lease_seconds: int = Field(
        default=300,
        ge=10,
        description="How long a claimed spool message stays reserved for one worker.",
    )
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, description="Pause of an idle worker before it looks for work again."
    )
    lane_max_connections: int = Field(
        default=4, ge=1, le=100, description="Connections a worker opens at once to one lane."
    )
    retry_schedule_minutes: list[int] = Field(
        default=[5, 10, 20, 40, 60],
        min_length=1,
        description="Back-off between delivery attempts; the last value repeats.",
    )
    queue_lifetime_hours: int = Field(
        default=120,
        ge=1,
        description="A message still undelivered after this long expires (RFC 5321 §4.5.4.1).",
    )
    fanout_batch_size: int = Field(
        default=500,
        ge=1,
        le=50_000,
        description="Recipients a campaign moves to the spool at once.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log records."
    )

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        # Links must work out of the box on the embedded default.
        if not self.public_url:
            self.public_url = f"http://{self.http_host}:{self.http_port}"
        self.public_url = self.public_url.rstrip("/")
        return self


SECRET_FIELDS = frozenset({"secret_key", "database_url"})


def settings_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the schema."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `courriel config --markdown` from `courriel.config.Settings`;",
        "     a test fails when this file is stale. Run `make docs` after changing settings. -->",
        "",
        "Every setting is read from an environment variable named `COURRIEL_<NAME>`",
        "(upper case). `courriel config` prints the effective values, secrets masked.",
        "",
        "| Variable | Default | Description |",
        "| --- | --- | --- |",
    ]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else f"`{default}`"
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `COURRIEL_{name.upper()}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"


def masked(settings: Settings) -> dict[str, object]:
    """Effective settings with secrets (and passwords in URLs) masked."""
    values: dict[str, object] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name in SECRET_FIELDS and value is not None:
            value = "********"
        elif isinstance(value, Path):
            value = str(value)
        values[name] = value
    return values
