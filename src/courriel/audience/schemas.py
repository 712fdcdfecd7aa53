"""API shapes of the audience."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from courriel.audience.models import ConsentSource, PropertyKind, SuppressionReason
from courriel.core.addresses import is_role_address
from courriel.core.schemas import Input, Int64


class ListIn(Input):
    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(default="", max_length=5000, description="Shown to people who subscribe")
    double_opt_in: bool = True
    retention_days: Int64 | None = Field(
        default=None, description="Days pending/unsubscribed data is kept (none: no limit)"
    )
    tracking: bool = Field(default=True, description="Track opens and clicks of this list's mail")
    role_addresses: Literal["flag", "refuse"] = Field(
        default="flag",
        description=(
            "Role addresses (postmaster@, noreply@…) at import and sign-up: "
            "flag (taken, shown as role addresses) or refuse"
        ),
    )
    sunset_months: Int64 | None = Field(
        default=12,
        description=(
            "Sunset policy: leave out of marketing the subscribers without an open or click "
            "in this many months (1 to 120); null: off"
        ),
    )


class ListTrackingIn(Input):
    tracking: bool = Field(description="Track opens and clicks of this list's mail")


class ListRoleAddressesIn(Input):
    role_addresses: Literal["flag", "refuse"] = Field(
        description="flag (taken, shown as role addresses) or refuse"
    )


class ListPurposeIn(Input):
    purpose: str = Field(min_length=1, max_length=5000)


class ListOut(BaseModel):
    id: str
    name: str
    purpose: str
    purpose_version: int
    double_opt_in: bool
    retention_days: int | None
    created_at: dt.datetime
    tracking: bool = True
    role_addresses: str = "flag"
    # Sunset policy: months without an open or click before marketing leaves a
    # subscriber out (null: off). PUT /v1/lists/{id}/sunset changes it.
    sunset_months: int | None = None


class PropertyIn(Input):
    name: str = Field(max_length=64)
    kind: PropertyKind
    choices: list[str] = Field(default_factory=list, max_length=200)


class PropertyOut(BaseModel):
    id: str
    name: str
    kind: PropertyKind
    choices: list[str]
    created_at: dt.datetime


class SuppressionIn(Input):
    address: str = Field(max_length=320)
    reason: SuppressionReason = SuppressionReason.MANUAL
    detail: str = Field(default="", max_length=500)


class SuppressionOut(BaseModel):
    id: int
    address_hash: str
    # The address, for every reason but erasure (kept as the hash alone).
    address: str | None = None
    reason: SuppressionReason
    detail: str
    created_at: dt.datetime


class UnsubscribeOut(BaseModel):
    list_id: str
    status: str


class ConsentIn(Input):
    source: ConsentSource
    purpose_text: str = Field(min_length=1, max_length=5000, description="Exact text shown")
    legal_basis: str = "consent"
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=500)
    form_id: str | None = Field(default=None, max_length=80)
    confirmed: bool = Field(
        default=False, description="Double opt-in already completed elsewhere (attested)"
    )


class ContactIn(Input):
    email: str = Field(max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    properties: dict[str, str | Int64 | float | bool | None] = Field(default_factory=dict)
    lists: list[str] = Field(min_length=1, max_length=100)
    consent: ConsentIn


class ContactOut(BaseModel):
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    language: str | None
    timezone: str | None
    properties: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field(  # type: ignore[prop-decorator]
        description="A role mailbox (postmaster@, noreply@…): a function, not a person"
    )
    @property
    def role_address(self) -> bool:
        return is_role_address(self.email)


class SubscribeOut(BaseModel):
    contact: ContactOut
    subscriptions: dict[str, str]


class ConsentOut(BaseModel):
    list_id: str | None
    purpose_version: int | None
    action: str
    source: str
    legal_basis: str
    purpose_text: str
    form_id: str | None
    ip: str | None
    user_agent: str | None
    principal: str
    occurred_at: dt.datetime
