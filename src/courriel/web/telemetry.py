"""Times every HTTP request for `/metrics`, labelled by route template, never by path.

A path holds ids and tokens (a person's click, a contact id); the route
template (`/v1/contacts/{contact_id}`) does not, and keeps the number of
series bounded.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courriel.core.telemetry import HTTP_SECONDS


class RequestTimer:
    """ASGI middleware: observe each request's duration once it has answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            HTTP_SECONDS.labels(scope["method"], _template(scope), f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


def _template(scope: Scope) -> str:
    """The matched route's path template, with the prefix it was included under."""
    route = scope.get("route")
    path_regex = getattr(route, "path_regex", None)
    template = getattr(route, "path", None)
    if path_regex is None or template is None:
        return "unmatched"
    path: str = scope["path"]
    # Routers included under a prefix ("/v1") match the rest of the path; the
    # prefix is what precedes the first position where the route matches.
    for index, char in enumerate(path):
        if char == "/" and path_regex.match(path[index:]):
            return path[:index] + str(template)
    return str(template)
