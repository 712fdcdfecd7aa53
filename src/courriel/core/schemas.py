"""Shapes shared by every endpoint: the page envelope and the base of input models."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Input(BaseModel):
    """Base of request bodies: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


class PageOut(BaseModel, Generic[T]):
    """One page of a listing (see `courriel.core.pagination`)."""

    data: list[T]
    next_cursor: str | None
