"""The one settings schema of Courriel.

Every setting has a default and a description; `docs/configuration.md` is
generated from this class (`courriel config --markdown`) and a test fails when
the file is stale. Environment variables use the prefix ``COURRIEL_``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from courriel.config.profiles import ThrottleProfile, default_profiles


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
    database_pool_size: int = Field(
        default=5,
        ge=1,
        le=100,
        description=(
            "PostgreSQL connections each process keeps open to each database it uses (control, "
            "spool, every tenant's). The server must allow processes x databases x (this + "
            "`database_max_overflow`) connections (its max_connections)."
        ),
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        le=100,
        description=(
            "PostgreSQL connections a process may open to one database beyond "
            "`database_pool_size` while busy; they close again when given back."
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
    http_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "HTTP server processes of `courriel serve` (sharing the port with SO_REUSEPORT); "
            "more than one spreads busy tracking traffic over several cores."
        ),
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description=(
            "PEM certificate chain for HTTPS served by Courriel itself (`serve --tls-cert`); "
            "unset: plain HTTP, for a TLS-terminating reverse proxy in front."
        ),
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of `tls_cert_file`."
    )
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
        default=30,
        ge=10,
        description=(
            "How long a claimed spool message or lane connection slot stays reserved for one "
            "worker without a heartbeat: a worker that died (kill -9, power loss) has its "
            "work taken over after at most this long."
        ),
    )
    worker_heartbeat_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "How often a live worker renews the leases of what it holds, so a slow delivery "
            "keeps its messages (unset: a third of `worker_lease_seconds`; at most half)."
        ),
    )
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, description="Pause of an idle worker before it looks for work again."
    )
    automation_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Pause of the automation engine, when nothing was due, before its next pass "
        "over workflow triggers and people due for their next step.",
    )
    automation_batch_size: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="People one automation engine leases and moves forward per tenant and pass.",
    )
    automation_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long people leased by an automation engine stay its own; after a crash "
        "they are due again for any engine once this has passed.",
    )
    lane_max_connections: int = Field(
        default=4,
        ge=1,
        le=100,
        description=(
            "Connections one worker process opens at once to one lane; the lane's throttle "
            "profile caps all processes together."
        ),
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
    throttle_profiles: dict[str, ThrottleProfile] = Field(
        default_factory=default_profiles,
        description=(
            "Per-provider lane limits (JSON: name -> {mx_suffixes, max_connections, "
            "messages_per_connection, messages_per_minute, messages_per_hour}); a lane whose MX "
            "hosts match no suffix uses `default`. Enforced across all worker processes."
        ),
    )
    throttle_backoff_seconds: int = Field(
        default=60,
        ge=1,
        description="A lane answered 421 / 4.7.x (throttling) pauses this long before resuming.",
    )
    throttle_slowdown: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Factor a throttling reply multiplies a lane's rate by (down to 5 %).",
    )
    throttle_recovery_per_minute: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Share of its full rate a slowed lane regains each minute without throttling.",
    )
    warmup_timezone: str = Field(
        default="UTC",
        description=(
            "Time zone (IANA name) whose midnight starts a new warm-up day: daily caps of "
            "IP pools' warm-up plans count and grow by calendar day there."
        ),
    )
    platform_admin_tenant: str = Field(
        default="",
        max_length=40,
        description=(
            "Id of the tenant whose users with users:manage administer the platform over "
            "the API and the web application (IP pools, warm-up plans); empty: only the CLI."
        ),
    )
    smart_host: str | None = Field(
        default=None,
        description="Relay every message through this SMTP server instead of the recipients' MX.",
    )
    smart_host_port: int = Field(default=587, ge=1, le=65535, description="Smart host port.")
    smart_host_username: str | None = Field(
        default=None, description="Smart host AUTH user name (unset: no authentication)."
    )
    smart_host_password: SecretStr | None = Field(
        default=None, description="Smart host AUTH password."
    )
    smart_host_tls: Literal["opportunistic", "required", "off"] = Field(
        default="required",
        description="STARTTLS towards the smart host (required by default: AUTH sends secrets).",
    )
    transport_security: bool = Field(
        default=True,
        description=(
            "Honour recipient domains' MTA-STS policies (RFC 8461) and DANE TLSA records "
            "(RFC 7672): TLS becomes required, and checked, where they are published. DANE "
            "needs a DNSSEC-validating resolver in resolv.conf (it trusts the AD bit)."
        ),
    )
    mx_tls_ca_file: Path | None = Field(
        default=None,
        description=(
            "CA certificates (PEM) that MX hosts' certificates are checked against under an "
            "MTA-STS policy, and MTA-STS policy hosts' too; unset: the system store."
        ),
    )
    smart_host_ca_file: Path | None = Field(
        default=None,
        description=(
            "CA certificates (PEM) that sign the smart host's certificate; unset: the system "
            "store. The certificate and the name in `smart_host` are verified whenever TLS is "
            "required or credentials are sent (credentials make opportunistic TLS required)."
        ),
    )
    inbound_smtp_host: str = Field(
        default="127.0.0.1", description="Address the return-path (bounce) SMTP server binds to."
    )
    inbound_smtp_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description=(
            "Port of the return-path SMTP server receiving DSNs and complaint reports, started "
            "by `serve` and `worker`; 0 = off."
        ),
    )
    relay_enabled: bool = Field(
        default=False,
        description=(
            "Run the SMTP relay (customer submission) inside `serve` and `worker`; "
            "`courriel relay` runs it alone whatever this says."
        ),
    )
    relay_host: str = Field(
        default="127.0.0.1", description="Address the SMTP relay (submission) binds to."
    )
    relay_port: int = Field(
        default=587,
        ge=0,
        le=65535,
        description="Submission port with STARTTLS (RFC 6409, RFC 3207); 0 = off.",
    )
    relay_tls_port: int = Field(
        default=465,
        ge=0,
        le=65535,
        description="Submission port with implicit TLS (RFC 8314 §3.3); 0 = off.",
    )
    relay_certificate_file: Path | None = Field(
        default=None,
        description=(
            "PEM certificate (chain) of the relay. Unset: a self-signed certificate is made "
            "under <data_dir>/relay/ (for the sandbox and tests; clients must not verify it)."
        ),
    )
    relay_key_file: Path | None = Field(
        default=None, description="PEM private key of `relay_certificate_file`."
    )
    relay_max_message_bytes: int = Field(
        default=15 * 1024 * 1024,
        ge=1024,
        description="Largest message the relay accepts (announced as SIZE, RFC 1870).",
    )
    relay_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "Relay processes sharing the submission ports (SO_REUSEPORT), so the relay's "
            "TLS and DKIM signing can use several cores; failed-login counts are per process."
        ),
    )
    relay_max_recipients: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Most recipients of one relayed message (more get 452, RFC 5321 §4.5.3.1.8).",
    )
    fanout_batch_size: int = Field(
        default=500,
        ge=1,
        le=50_000,
        description="Recipients a campaign moves to the spool at once.",
    )
    spool_high_water: int | None = Field(
        default=10_000,
        ge=1,
        description=(
            "Campaign fan-out waits while this many spooled messages are due or being sent, "
            "so composing never runs far ahead of delivery (spool size, and the CPU the "
            "workers need); raise it with many delivery workers. Empty: no limit."
        ),
    )
    tracking_flush_seconds: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description=(
            "Opens and clicks are buffered in memory and written in batches this often, so "
            "each is durable within this time (at most 1 s)."
        ),
    )
    webhook_allowed_networks: list[str] = Field(
        default=[],
        description=(
            "Networks (CIDR, e.g. 10.0.5.0/24 or 127.0.0.1/32) webhook endpoints may reach "
            "although they are private or loopback; for self-hosted receivers. Empty: only "
            "public addresses."
        ),
    )
    trusted_proxies: list[str] = Field(
        default=[],
        description=(
            "Networks (CIDR) of the reverse proxies in front of Courriel. X-Forwarded-For is "
            "believed only from these; from anyone else the connecting address is the client. "
            "Empty: X-Forwarded-For is ignored."
        ),
    )
    api_rate_limit_per_key: int = Field(
        default=1200,
        ge=1,
        description=(
            "Requests one API key may make per window (`api_rate_limit_window_seconds`); "
            "beyond it the API answers 429 with Retry-After. Counted in each HTTP process."
        ),
    )
    api_rate_limit_per_address: int = Field(
        default=2400,
        ge=1,
        description=(
            "Requests one source address (see `trusted_proxies`) may make to the API per "
            "window, whatever the key; beyond it 429 with Retry-After."
        ),
    )
    api_rate_limit_window_seconds: int = Field(
        default=60, ge=1, le=3600, description="The window of the API rate limits, in seconds."
    )
    api_wrong_keys_free: int = Field(
        default=10,
        ge=0,
        le=1000,
        description=(
            "Wrong API keys a source address may present before it must wait (1 s, doubling); "
            "10 more and it is locked out for 15 minutes (doubling up to a day), answered 429."
        ),
    )
    backup_dir: Path | None = Field(
        default=None,
        description="Where `courriel backup` keeps its sets (default: <data_dir>/backups).",
    )
    backup_key: SecretStr | None = Field(
        default=None,
        description=(
            "64 hex digits: the AES-256 key backups are encrypted with. Keep it outside the "
            "data directory; without it no backup can be read."
        ),
    )
    backup_keep_daily: int = Field(
        default=7,
        ge=0,
        le=3660,
        description="`backup prune` keeps the newest set of this many days.",
    )
    backup_keep_weekly: int = Field(
        default=4, ge=0, le=520, description="… and of this many ISO weeks."
    )
    tenant_deletion_grace_days: int = Field(
        default=20,
        ge=0,
        le=365,
        description=(
            "Days between `courriel tenant delete` (the tenant is suspended at once) and the "
            "deletion of its data and backups."
        ),
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a webhook receiver has to answer."
    )
    webhook_retry_hours: int = Field(
        default=24,
        ge=1,
        le=72,
        description=(
            "A webhook delivery is retried (exponential back-off with jitter) this long; an "
            "endpoint failing for this long is disabled."
        ),
    )
    # Link checking (courriel.policy.links): every link fetched before a send.
    link_check_campaigns: bool = Field(
        default=False,
        description=(
            "Fetch every link of a campaign before it may be sent or scheduled (and on its "
            "check page): dead links, links to blocklisted domains and links whose shown URL "
            "names another domain refuse the send. Off by default because it needs outbound "
            "HTTP and DNS from the web and engine nodes."
        ),
    )
    link_check_messages: bool = Field(
        default=False,
        description=(
            "Check the links of every Send API message (native and Mailjet shape), as if each "
            "asked for it with `check_links` or the `X-Courriel-Check-Links: 1` header."
        ),
    )
    link_check_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long one link (its whole redirect chain) has to answer.",
    )
    link_check_max_redirects: int = Field(
        default=5, ge=0, le=20, description="Redirects followed before a link counts as dead."
    )
    link_check_max_bytes: int = Field(
        default=65_536,
        ge=0,
        le=10_000_000,
        description="Bytes of a page's body read at most (when HEAD is refused and GET is used).",
    )
    link_check_concurrency: int = Field(
        default=16, ge=1, le=256, description="Links fetched at once by one check."
    )
    link_check_cache_hours: float = Field(
        default=6.0,
        ge=0,
        le=168,
        description=(
            "How long a tenant's link results are reused before the link is fetched again "
            "(0: never reused)."
        ),
    )
    link_check_blocklist_zones: list[str] = Field(
        default=[],
        description=(
            "DNS URI blocklist zones links' domains are looked up in as `<domain>.<zone>` "
            "(e.g. dbl.spamhaus.org, multi.surbl.org: they need a resolver of your own, not a "
            "public one; dbl.sandbox.test is the sandbox's). Empty: no blocklist lookup."
        ),
    )
    # Sending policy: defaults are the published policy.
    policy_window_days: int = Field(
        default=7, ge=1, le=90, description="Rolling window over which policy rates are computed."
    )
    policy_min_volume: int = Field(
        default=100,
        ge=1,
        description="Messages sent in the window before policy rates count (fewer is noise).",
    )
    policy_bounce_rate_max: float = Field(
        default=0.08, gt=0, le=1, description="Highest share of sent messages that may bounce."
    )
    policy_unsubscribe_rate_max: float = Field(
        default=0.014, gt=0, le=1, description="Highest share of sent messages unsubscribed."
    )
    policy_unsubscribe_rate_max_over_clicks: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Highest unsubscribe share when unsubscribes outnumber clicks.",
    )
    policy_block_rate_max: float = Field(
        default=0.30, gt=0, le=1, description="Highest share of sent messages blocked."
    )
    policy_complaint_rate_max: float = Field(
        default=0.0008,
        gt=0,
        le=1,
        description="Highest daily share of spam complaints, once more than "
        "`policy_complaint_rate_min_daily` messages are sent a day.",
    )
    policy_complaint_rate_min_daily: int = Field(
        default=1000, ge=1, description="Daily volume above which the complaint rate applies."
    )
    policy_complaints_per_day_max: int = Field(
        default=50,
        ge=0,
        description="Most spam complaints allowed in 24 hours, whatever the volume.",
    )
    policy_spam_trap_hits_max: int = Field(
        default=1, ge=0, description="Most spam-trap hits allowed in the window."
    )
    policy_warning_share: float = Field(
        default=0.75,
        gt=0,
        lt=1,
        description="A figure at this share of its limit puts the tenant in `warning`.",
    )
    policy_suspend_factor: float = Field(
        default=2.0,
        gt=1,
        description="A figure at this multiple of its limit suspends sending at once.",
    )
    policy_limited_hourly_cap: int = Field(
        default=500, ge=1, description="Messages an hour a `limited` tenant may send."
    )
    policy_limited_days: int = Field(
        default=7, ge=1, description="How long the `limited` state (and its hourly cap) lasts."
    )
    policy_evaluate_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the engine re-evaluates tenants that have new events.",
    )
    policy_notice_from: str = Field(
        default="policy@courriel.test",
        description="From address of the e-mails telling a tenant its policy state changed.",
    )
    require_verified_sender_domain: bool = Field(
        default=True,
        description=(
            "Only From domains verified by their owner (DNS TXT token) may send. In sandbox "
            "mode (`resolver=sandbox`) domains under the reserved `.test` TLD count as verified, "
            "with that reason recorded, since no one can publish records for them. Either way "
            "a From domain gets DKIM keys on its first send: every message is signed."
        ),
    )
    spf_include: str = Field(
        default="_spf.courriel.test",
        description="Domain sender domains include in their SPF record to authorize our servers.",
    )
    dns_nameservers: list[str] = Field(
        default=[],
        description=(
            "Name servers (address or address:port) sender-domain checks ask; empty: the "
            "system resolver."
        ),
    )
    sending_ips: list[str] = Field(
        default=[],
        description=(
            "Public addresses the delivery engine sends from (IPv4 or IPv6): what the "
            "blocklist watch and the bulk-sender rules (SPF, reverse DNS) check. Empty: "
            "no IP is watched (IP pools, when configured, add theirs)."
        ),
    )
    blocklist_ip_zones: list[str] = Field(
        default=[],
        description=(
            "DNS blocklist zones the sending IPs are looked up in, as "
            "`<reversed octets>.<zone>` (RFC 5782), e.g. `zen.spamhaus.org`. Empty: none."
        ),
    )
    blocklist_domain_zones: list[str] = Field(
        default=[],
        description=(
            "Domain blocklist zones the tenants' sender domains are looked up in, as "
            "`<domain>.<zone>` (RFC 5782 §2.3), e.g. `dbl.spamhaus.org`. Empty: none."
        ),
    )
    blocklist_interval_seconds: float = Field(
        default=3600.0,
        ge=60,
        description=(
            "How often the engine looks the sending IPs and sender domains up in the "
            "blocklist zones (one engine at a time, under a lease)."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log records."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or as one JSON object each (for a log collector).",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description=(
            "Port of the Prometheus `/metrics` endpoint of `serve` and `worker` (0: off). "
            "Its own address, so it need not be public."
        ),
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the `/metrics` endpoint binds to."
    )
    retention_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "How often the engine runs each list's retention and consent-expiry rules "
            "(re-permission emails, then suppression or removal at the deadline)."
        ),
    )
    retention_batch: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="At most this many contacts per list are asked again in one retention run.",
    )
    transactional_max_attachment_bytes: int = Field(
        default=15_000_000,
        ge=0,
        le=50_000_000,
        description=(
            "Total size of one transactional message's attachments and inline files, "
            "decoded (the Send API's limit, 15 MB, like Mailjet's)."
        ),
    )
    test_send_limit_per_minute: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Test sends one tenant may make in a minute (more answer 429).",
    )

    session_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A signed-in session ends after this many minutes without a request.",
    )
    session_absolute_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 30,
        description="A signed-in session ends this many hours after sign-in, however active.",
    )
    invitation_hours: int = Field(
        default=72, ge=1, le=24 * 30, description="How long an invitation link stays valid."
    )
    audit_anchor_seconds: float = Field(
        default=300.0,
        gt=0,
        description=(
            "How often the engine copies each tenant's audit chain head to the control "
            "database, so a rewritten tenant database fails `courriel audit verify`."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        # A typo here would silently let clients forge their address.
        for value in values:
            try:
                ipaddress.ip_network(value.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a network (CIDR) or address") from None
        return [v.strip() for v in values]

    @field_validator("sending_ips")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        # A typo would watch an address no one sends from, and say all is well.
        for value in values:
            try:
                ipaddress.ip_address(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return [str(ipaddress.ip_address(v.strip())) for v in values]

    @field_validator("blocklist_ip_zones", "blocklist_domain_zones")
    @classmethod
    def _zones(cls, values: list[str]) -> list[str]:
        zones = [v.strip().lower().rstrip(".") for v in values]
        for zone in zones:
            labels = zone.split(".")
            if len(labels) < 2 or not all(
                label and label.replace("-", "").replace("_", "").isalnum() for label in labels
            ):
                raise ValueError(f"{zone!r} is not a DNS zone name such as zen.spamhaus.org")
        return zones

    @field_validator("warmup_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(
                f"{value!r} is not a known time zone (e.g. UTC, Europe/Paris)"
            ) from None
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: give both or neither")
        return self

    privacy_controller: str = Field(
        default="",
        max_length=500,
        description=(
            "The controller's identity and contact details (GDPR Arts. 13-15, 30), shown in "
            "access exports, the processing register and the privacy center; empty: the "
            "tenant's name only."
        ),
    )
    privacy_dpo: str = Field(
        default="",
        max_length=500,
        description="The data-protection officer's name and contact details; empty: none named.",
    )
    privacy_complaint: str = Field(
        default=(
            "You may lodge a complaint with a supervisory authority, in particular in the "
            "EU member state of your habitual residence, place of work or of the alleged "
            "infringement (GDPR Art. 77)."
        ),
        max_length=1000,
        description="Where a person may complain (Art. 77), as recipients read it.",
    )
    hygiene_dns_check: bool = Field(
        default=True,
        description=(
            "Refuse addresses at import and sign-up whose domain does not exist, has no mail "
            "server or publishes a null MX (RFC 7505); skipped, not failed, when DNS is "
            "unreachable."
        ),
    )
    hygiene_dns_concurrency: int = Field(
        default=16, ge=1, le=256, description="DNS lookups of list hygiene in flight at once."
    )
    hygiene_dns_timeout_seconds: float = Field(
        default=3.0, gt=0, le=60, description="Longest wait for one domain's DNS answer."
    )
    hygiene_dns_probe: str = Field(
        default="gmail.com",
        description=(
            "A domain that surely receives mail: negative DNS answers are trusted only once it "
            "resolves (a resolver cut off from the internet answers 'no such domain' to all); "
            "empty trusts every answer."
        ),
    )
    spamd_start: bool = Field(
        default=False,
        description=(
            "Start SpamAssassin's spamd on a loopback port (Debian package spamassassin) to "
            "score messages in the content check."
        ),
    )
    spamd_address: str = Field(
        default="",
        description=(
            "host:port of a running spamd to score messages with; empty: none, unless "
            "spamd_start. Without either, the content check uses Courriel's own heuristics only."
        ),
    )
    spamd_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="Longest wait for spamd to score one message."
    )

    _public_url_given: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        # One source for every process of an installation: the setting; else
        # the address the running server recorded (`record_public_url`), so a
        # CLI command builds the links the server answers; else the default
        # HTTP address, for links to work out of the box on the embedded default.
        self._public_url_given = bool(self.public_url)
        if not self.public_url:
            self.public_url = served_public_url(self.data_dir) or (
                f"http://{self.http_host}:{self.http_port}"
            )
        self.public_url = self.public_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        # A heartbeat slower than half the lease would let a live worker's
        # leases run out between two beats.
        beat = self.worker_heartbeat_seconds
        if beat is not None and beat > self.worker_lease_seconds / 2:
            raise ValueError(
                "worker_heartbeat_seconds must be at most half of worker_lease_seconds"
            )
        return self

    @property
    def public_url_configured(self) -> bool:
        """Whether the public URL was set (COURRIEL_PUBLIC_URL), not derived."""
        return self._public_url_given


PUBLIC_URL_FILE = "public-url"


def served_public_url(data_dir: Path | str) -> str | None:
    """The public URL the installation's server recorded when it started (None: none yet)."""
    try:
        recorded = (Path(data_dir) / PUBLIC_URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return recorded or None


def record_public_url(settings: Settings) -> str | None:
    """At server start: fix the public URL every process of this data directory uses.

    Without COURRIEL_PUBLIC_URL the server's own HTTP address is the public URL;
    it is written down so that CLI commands (which do not know the port the
    server was started on) build the same links. Returns a warning to log when
    the URL is not configured outside the sandbox: recipients cannot follow
    links to a local address.
    """
    if not settings.public_url_configured:
        settings.public_url = f"http://{settings.http_host}:{settings.http_port}"
    # A first `serve` may come before any `migrate`: the directory may not exist yet
    # (0700, as core.files keeps every data directory).
    Path(settings.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    Path(settings.data_dir, PUBLIC_URL_FILE).write_text(settings.public_url + "\n", "utf-8")
    if settings.public_url_configured or settings.resolver == "sandbox":
        return None
    return (
        f"COURRIEL_PUBLIC_URL is not set: links in mail (unsubscribe, privacy center, "
        f"tracking, re-permission) point at {settings.public_url}, which recipients "
        "cannot reach; set it to the address this installation is served at"
    )


SECRET_FIELDS = frozenset({"secret_key", "database_url", "smart_host_password", "backup_key"})


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
        if name == "throttle_profiles":
            shown = "built-in: " + ", ".join(f"`{key}`" for key in default)
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
        elif name == "throttle_profiles":
            value = {key: profile.model_dump() for key, profile in value.items()}
        values[name] = value
    return values
