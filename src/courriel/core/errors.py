"""Errors the services raise; the edges turn them into HTTP problems or CLI messages.

Each error names what went wrong in words a user can act on. Services never
raise HTTP exceptions: they do not know they are behind HTTP.
"""

from __future__ import annotations


class CourrielError(Exception):
    """Base of the errors a service reports to its caller."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(CourrielError):
    """The thing does not exist for this tenant (or exists only for another one)."""

    title = "Not found"


class ForbiddenError(CourrielError):
    """The acting principal lacks the capability the use case needs."""

    title = "Forbidden"


class ConflictError(CourrielError):
    """The request clashes with the current state (a duplicate, a wrong status)."""

    title = "Conflict"


class InvalidInputError(CourrielError):
    """An input value is wrong; `field` names it (dotted path, e.g. ``consent.source``)."""

    title = "Invalid input"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.reason = detail


class AuthenticationError(CourrielError):
    """No valid credentials were given."""

    title = "Unauthorized"


class RateLimitedError(CourrielError):
    """Too many requests: the caller must wait `retry_after` seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
