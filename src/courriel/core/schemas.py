"""Shapes shared by every endpoint: the page envelope and the base of input models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from courriel.core.pagination import Page

T = TypeVar("T")

# Every integer the API accepts is one of these: what a 64-bit column holds
# (SQLite INTEGER, PostgreSQL BIGINT). A bigger one would reach the driver
# and fail there (OverflowError: a 500); here it is a 422 naming the field.
# tests/api/test_bounded_integers.py walks the OpenAPI document for any
# integer input without both bounds.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
PositiveInt64 = Annotated[int, Field(ge=1, le=INT64_MAX)]
# Row ids and version numbers are INTEGER columns: 32 bits on PostgreSQL
# (where a bigger value is a NumericValueOutOfRange error, a 500 too).
INT32_MAX = 2**31 - 1
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]


class Input(BaseModel):
    """Base of request bodies: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


class PageOut(BaseModel, Generic[T]):
    """One page of a listing (see `courriel.core.pagination`)."""

    data: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page[Any], item: Callable[[Any], T] | None = None) -> Self:
        """A page of results as this shape: each item mapped by `item`, or read from its attributes.

        Used as ``PageOut[ListOut].of(page)``, so the item shape is the
        class's own parameter.
        """
        data = [item(i) for i in page.items] if item is not None else list(page.items)
        return cls.model_validate(
            {"data": data, "next_cursor": page.next_cursor}, from_attributes=True
        )
