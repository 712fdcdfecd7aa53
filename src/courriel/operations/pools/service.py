"""IP pools and their warm-up, as the platform's operators manage them.

Who may do what (docs/operations.md, "IP pools"): pools are the platform's,
not a tenant's. An address's reputation is shared by every tenant sending
from it, so only platform administrators create pools, add addresses,
assign pools (to a tenant, to a tenant's mail class, to a campaign) and run
warm-up plans: the CLI on the host, or over the API and the web application
the users with users:manage of the tenant named by the
``platform_admin_tenant`` setting (`PoolService.administrator`). A tenant
sees which pools its own mail leaves from (`PoolService.for_tenant`),
nothing of other tenants', and chooses none itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from courriel.campaigns.models import Campaign
from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.models import Tenant
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.delivery.warmup import DEFAULT_SCHEDULES, WarmupPlans, WarmupStatus
from courriel.operations.pools import checks
from courriel.operations.pools.choice import PoolSnapshots
from courriel.operations.pools.models import IpPool, IpPoolAddress, IpPoolAssignment


@dataclass(frozen=True)
class Administrator:
    """A platform administrator, as checked by `PoolService.administrator`."""

    actor: str


OPERATOR = Administrator("operator")
"""The installation's operator at the CLI on the host."""


@dataclass(frozen=True)
class Assignment:
    """A tenant's mail in one scope leaves from ``pool``."""

    pool: str
    tenant_id: str
    scope: str


@dataclass(frozen=True)
class Pool:
    """A pool, its addresses (address, EHLO name), assignments and warm-up plans."""

    name: str
    description: str
    is_default: bool
    addresses: list[tuple[str, str]]
    assignments: list[Assignment]
    warmup: list[WarmupStatus]


def sending_addresses(control: sessionmaker[Session]) -> list[str]:
    """Every source address of every pool, sorted: what blocklists should be checked for.

    Reads the control database directly, so a monitoring job needs no services.
    """
    with control() as session:
        return list(session.scalars(select(IpPoolAddress.address).order_by(IpPoolAddress.address)))


class PoolService:
    """Pools, addresses, assignments and warm-up plans (see the module docstring)."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, warmup: WarmupPlans
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self.warmup = warmup
        # What the spool (choosing) and the workers (binding) read.
        self.snapshots = PoolSnapshots(storage.control)

    def administrator(self, principal: Principal) -> Administrator:
        """``principal`` as a platform administrator, or `ForbiddenError`."""
        admin_tenant = self._settings.platform_admin_tenant
        if not admin_tenant or principal.tenant_id != admin_tenant:
            raise ForbiddenError("IP pools are managed by the platform's administrators only")
        principal.require(Capability.USERS_MANAGE)
        return Administrator(principal.actor)

    def is_administrator(self, principal: Principal) -> bool:
        """Whether ``principal`` administers the platform (the web application asks)."""
        try:
            self.administrator(principal)
        except ForbiddenError:
            return False
        return True

    # Pools -----------------------------------------------------------------

    def create(
        self, _admin: Administrator, name: str, description: str = "", *, default: bool = False
    ) -> Pool:
        """A new, empty pool (the default pool if ``default``)."""
        name = checks.pool_name(name)
        with transaction(self._storage.control) as session:
            if session.get(IpPool, name) is not None:
                raise ConflictError(f"a pool named {name!r} exists already")
            if default:
                self._clear_default(session)
            session.add(
                IpPool(
                    name=name,
                    description=description.strip()[:1000],
                    is_default=default,
                    created_at=self._clock.now(),
                )
            )
        self.snapshots.forget()
        return self.get(_admin, name)

    def make_default(self, _admin: Administrator, name: str) -> Pool:
        """Make ``name`` the pool of mail no assignment places elsewhere."""
        with transaction(self._storage.control) as session:
            pool = self._pool(session, name)
            self._clear_default(session)
            pool.is_default = True
        self.snapshots.forget()
        return self.get(_admin, name)

    def delete(self, _admin: Administrator, name: str) -> None:
        """Delete an unassigned pool with its addresses and warm-up plans."""
        with transaction(self._storage.control) as session:
            pool = self._pool(session, name)
            used = session.scalar(select(func.count()).where(IpPoolAssignment.pool == name))
            if used:
                raise ConflictError(
                    f"pool {name!r} is assigned {used} time(s): remove its assignments first"
                )
            session.execute(delete(IpPoolAddress).where(IpPoolAddress.pool == name))
            session.delete(pool)
        self.warmup.remove(name)
        self.snapshots.forget()

    def pools(self, _admin: Administrator) -> list[Pool]:
        """Every pool, by name."""
        with self._storage.control() as session:
            names = list(session.scalars(select(IpPool.name).order_by(IpPool.name)))
        return [self.get(_admin, name) for name in names]

    def get(self, _admin: Administrator, name: str) -> Pool:
        """One pool with its addresses, assignments and warm-up plans."""
        with self._storage.control() as session:
            pool = self._pool(session, name)
            addresses = [
                (a.address, a.helo_name)
                for a in session.scalars(
                    select(IpPoolAddress)
                    .where(IpPoolAddress.pool == name)
                    .order_by(IpPoolAddress.address)
                )
            ]
            assignments = [
                Assignment(a.pool, a.tenant_id, a.scope)
                for a in session.scalars(
                    select(IpPoolAssignment)
                    .where(IpPoolAssignment.pool == name)
                    .order_by(IpPoolAssignment.tenant_id, IpPoolAssignment.scope)
                )
            ]
            found = Pool(pool.name, pool.description, pool.is_default, addresses, assignments, [])
        statuses = self.warmup.status(self._clock.now(), name)
        return Pool(
            found.name, found.description, found.is_default, addresses, assignments, statuses
        )

    def sending_addresses(self) -> list[str]:
        """Every source address of every pool (for blocklist checks and monitoring)."""
        return sending_addresses(self._storage.control)

    # Addresses -------------------------------------------------------------

    def add_address(
        self,
        _admin: Administrator,
        pool: str,
        address: str,
        helo_name: str,
        *,
        check_local: bool = True,
    ) -> Pool:
        """Add a source address and its EHLO name to ``pool``.

        With ``check_local`` the address must be one this host can bind to
        (each engine host needs every pool address; see docs/deploy.md).
        """
        address = checks.source_address(address)
        helo = checks.helo_name(helo_name)
        if check_local:
            checks.local(address)
        with transaction(self._storage.control) as session:
            self._pool(session, pool)
            taken = session.get(IpPoolAddress, address)
            if taken is not None:
                raise ConflictError(
                    f"{address} is already in pool {taken.pool!r}: an address belongs to one pool"
                )
            session.add(
                IpPoolAddress(
                    address=address, pool=pool, helo_name=helo, created_at=self._clock.now()
                )
            )
        self.snapshots.forget()
        return self.get(_admin, pool)

    def remove_address(self, _admin: Administrator, pool: str, address: str) -> Pool:
        """Take ``address`` out of ``pool``: its mail leaves from the pool's other addresses."""
        address = checks.source_address(address)
        with transaction(self._storage.control) as session:
            row = session.get(IpPoolAddress, address)
            if row is None or row.pool != pool:
                raise NotFoundError(f"pool {pool!r} has no address {address}")
            session.delete(row)
        self.snapshots.forget()
        return self.get(_admin, pool)

    # Assignments -----------------------------------------------------------

    def assign(
        self,
        _admin: Administrator,
        pool: str,
        tenant_id: str,
        *,
        mail_class: str | None = None,
        campaign_id: str | None = None,
    ) -> Assignment:
        """Send a tenant's mail (of one class, or of one campaign) from ``pool``.

        One pool per tenant and scope: an assignment already there is a
        conflict, to be removed first, so none is replaced unseen.
        """
        scope = checks.scope(mail_class, campaign_id)
        with transaction(self._storage.control) as session:
            self._pool(session, pool)
            if session.get(Tenant, tenant_id) is None:
                raise NotFoundError(f"unknown tenant {tenant_id!r}")
            if campaign_id:
                self._check_campaign(tenant_id, campaign_id)
            existing = session.scalars(
                select(IpPoolAssignment).where(
                    IpPoolAssignment.tenant_id == tenant_id, IpPoolAssignment.scope == scope
                )
            ).first()
            if existing is not None:
                raise ConflictError(
                    f"tenant {tenant_id!r} already sends {_scope_words(scope)} from pool "
                    f"{existing.pool!r}: remove that assignment first"
                )
            session.add(
                IpPoolAssignment(
                    pool=pool, tenant_id=tenant_id, scope=scope, created_at=self._clock.now()
                )
            )
        self.snapshots.forget()
        return Assignment(pool, tenant_id, scope)

    def unassign(
        self,
        _admin: Administrator,
        tenant_id: str,
        *,
        mail_class: str | None = None,
        campaign_id: str | None = None,
        pool: str | None = None,
    ) -> Assignment:
        """Remove the tenant's assignment in that scope (to ``pool``, if given); its mail
        falls back to the next scope's pool."""
        scope = checks.scope(mail_class, campaign_id)
        with transaction(self._storage.control) as session:
            row = session.scalars(
                select(IpPoolAssignment).where(
                    IpPoolAssignment.tenant_id == tenant_id, IpPoolAssignment.scope == scope
                )
            ).first()
            if row is None or (pool is not None and row.pool != pool):
                raise NotFoundError(
                    f"tenant {tenant_id!r} has no pool assigned for {_scope_words(scope)}"
                )
            removed = Assignment(row.pool, row.tenant_id, row.scope)
            session.delete(row)
        self.snapshots.forget()
        return removed

    def for_tenant(self, principal: Principal) -> list[Assignment]:
        """The pools the principal's own tenant sends from, by scope (read-only)."""
        principal.require(Capability.STATS_READ)
        snapshot = self.snapshots.current()
        mine = [
            Assignment(pool, tenant_id, scope)
            for (tenant_id, scope), pool in sorted(snapshot.assignments.items())
            if tenant_id == principal.tenant_id
        ]
        if snapshot.default is not None:
            mine.append(Assignment(snapshot.default, principal.tenant_id, "default"))
        return mine

    # Warm-up ---------------------------------------------------------------

    def start_warmup(
        self,
        _admin: Administrator,
        pool: str,
        provider: str,
        schedule: list[int] | None = None,
        day: int = 1,
    ) -> WarmupStatus:
        """Create or replace ``pool``'s plan towards ``provider`` (default schedule if None)."""
        with self._storage.control() as session:
            self._pool(session, pool)
        known = sorted(self._settings.throttle_profiles)
        if provider not in known:
            raise InvalidInputError(
                "provider", f"{provider!r} is not a provider: one of {', '.join(known)}"
            )
        caps = schedule if schedule is not None else DEFAULT_SCHEDULES.get(provider)
        if caps is None:
            caps = DEFAULT_SCHEDULES["default"]
        return self.warmup.put(pool, provider, caps, self._clock.now(), day)

    def resume_warmup(self, _admin: Administrator, pool: str, provider: str) -> WarmupStatus:
        """Let a paused plan move on again."""
        return self.warmup.resume(pool, provider, self._clock.now())

    def stop_warmup(self, _admin: Administrator, pool: str, provider: str) -> None:
        """Delete a plan: the pool is warm (or will be warmed otherwise) towards ``provider``."""
        if not self.warmup.remove(pool, provider):
            raise NotFoundError(f"no warm-up plan for pool {pool!r} and provider {provider!r}")

    def warmup_status(self, _admin: Administrator, pool: str | None = None) -> list[WarmupStatus]:
        """Every plan (of ``pool``) as it stands today."""
        return self.warmup.status(self._clock.now(), pool)

    # -----------------------------------------------------------------------

    def _pool(self, session: Session, name: str) -> IpPool:
        pool = session.get(IpPool, name)
        if pool is None:
            raise NotFoundError(f"unknown pool {name!r}")
        return pool

    def _clear_default(self, session: Session) -> None:
        for pool in session.scalars(select(IpPool).where(IpPool.is_default)):
            pool.is_default = False

    def _check_campaign(self, tenant_id: str, campaign_id: str) -> None:
        with self._storage.tenant(tenant_id)() as session:
            if session.get(Campaign, campaign_id) is None:
                raise NotFoundError(f"tenant {tenant_id!r} has no campaign {campaign_id!r}")


def _scope_words(scope: str) -> str:
    if scope == "tenant":
        return "its mail"
    kind, _, value = scope.partition(":")
    return f"its {value} mail" if kind == "class" else f"campaign {value!r}"
