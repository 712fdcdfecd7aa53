"""Dates and numbers in the contact's language (Babel), as template filters.

The locale comes from the `locale` variable the composer sets from the
contact's language (falling back to English); a filter never fails a
recipient over a badly typed value, it prints the value as given.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale, UnknownLocaleError, dates, localedata, numbers
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

DEFAULT_LOCALE = "en"


@functools.lru_cache(maxsize=256)
def locale_for(language: str | None) -> str:
    """A Babel locale name for a contact's language tag ("pt-BR" → "pt_BR")."""
    if not language:
        return DEFAULT_LOCALE
    tag = language.replace("-", "_")
    try:
        Locale.parse(tag)
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE
    return tag


def _locale(context: Context) -> str:
    name = context.get("locale") or DEFAULT_LOCALE
    return name if isinstance(name, str) and name in _known_locales() else locale_for(name)


@functools.cache
def _known_locales() -> frozenset[str]:
    return frozenset(localedata.locale_identifiers())


# Formatting with Babel costs tens of microseconds a call, more than the rest
# of a message's personalization; the same dates and prices recur across a
# campaign's recipients, so results are memoized (bounded) per locale. The
# type is part of the key: 1.5 == Decimal("1.50") but they print differently.
_MEMO = 8192


@functools.lru_cache(maxsize=_MEMO)
def _date(day: dt.date, fmt: str, locale: str) -> str:
    return dates.format_date(day, format=fmt, locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _datetime(when: dt.datetime, fmt: str, zone: str | None, locale: str) -> str:
    tzinfo = None
    if zone:
        try:
            tzinfo = dates.get_timezone(zone)
        except LookupError:
            tzinfo = None
    return dates.format_datetime(when, format=fmt, tzinfo=tzinfo, locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _decimal(number: Decimal | float, _kind: str, locale: str) -> str:
    return numbers.format_decimal(number, locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _currency(number: Decimal | float, _kind: str, currency: str, locale: str) -> str:
    return numbers.format_currency(number, currency, locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _percent(number: Decimal | float, _kind: str, locale: str) -> str:
    return numbers.format_percent(number, locale=locale)


def _as_datetime(value: Any) -> dt.datetime | dt.date | None:
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, str):
        try:
            return (
                dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
            )
        except ValueError:
            return None
    return None


def _as_number(value: Any) -> Decimal | int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


@pass_context
def format_date(context: Context, value: Any, format: str = "medium") -> str:  # noqa: A002
    """A date in the contact's locale ("short", "medium", "long", "full" or a pattern)."""
    when = _as_datetime(value)
    if when is None:
        return "" if value is None else str(value)
    day = when.date() if isinstance(when, dt.datetime) else when
    return _date(day, str(format), _locale(context))


@pass_context
def format_datetime(context: Context, value: Any, format: str = "medium") -> str:  # noqa: A002
    """A date and time in the contact's locale and time zone."""
    when = _as_datetime(value)
    if not isinstance(when, dt.datetime):
        return "" if value is None else str(value)
    zone = context.get("timezone")
    return _datetime(when, str(format), zone if isinstance(zone, str) else None, _locale(context))


@pass_context
def format_number(context: Context, value: Any) -> str:
    """A number with the locale's grouping and decimal signs."""
    number = _as_number(value)
    if number is None:
        return "" if value is None else str(value)
    return _decimal(number, type(number).__name__, _locale(context))


@pass_context
def format_currency(context: Context, value: Any, currency: str = "EUR") -> str:
    """An amount of money in the locale's way of writing it."""
    number = _as_number(value)
    if number is None:
        return "" if value is None else str(value)
    try:
        return _currency(number, type(number).__name__, str(currency), _locale(context))
    except (UnknownLocaleError, ValueError):
        return str(value)


@pass_context
def format_percent(context: Context, value: Any) -> str:
    """A ratio (0.25) as a percentage in the locale (25 %)."""
    number = _as_number(value)
    if number is None:
        return "" if value is None else str(value)
    return _percent(number, type(number).__name__, _locale(context))


def install(env: Environment) -> None:
    """Add the locale-aware filters to an environment."""
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["number"] = format_number
    env.filters["currency"] = format_currency
    env.filters["percent"] = format_percent
