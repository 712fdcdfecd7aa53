"""Tables of IP pools (control database): pools, their addresses, their assignments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, UTCDateTime


class IpPool(ControlBase):
    """A named set of source addresses that mail leaves from.

    At most one pool is the default: the pool of every message that no
    assignment places elsewhere. With no default pool such mail leaves from
    the installation's own address, as without pools.
    """

    __tablename__ = "ip_pools"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class IpPoolAddress(ControlBase):
    """One source address of a pool, with the name it gives in EHLO.

    An address belongs to one pool only: its reputation is one thing, which
    two pools could not warm up or judge separately.
    """

    __tablename__ = "ip_pool_addresses"

    address: Mapped[str] = mapped_column(String(45), primary_key=True)
    pool: Mapped[str] = mapped_column(String(64), ForeignKey("ip_pools.name", ondelete="CASCADE"))
    helo_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class IpPoolAssignment(ControlBase):
    """A tenant's mail in one scope sends from a pool.

    ``scope`` is ``tenant`` (all its mail), ``class:marketing`` or
    ``class:transactional`` (its mail of that class), or ``campaign:<id>``
    (one campaign's). One pool per tenant and scope; the most specific
    scope wins (`PoolChooser`).
    """

    __tablename__ = "ip_pool_assignments"
    __table_args__ = (UniqueConstraint("tenant_id", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(64), ForeignKey("ip_pools.name", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(40), ForeignKey("tenants.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
