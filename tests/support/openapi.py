"""Walk the app's OpenAPI document: every endpoint that can answer with contact data.

Every GET, with each path parameter filled from `ids` by name ("missing" when
unknown), each query parameter named in `ids` set, and once more per value of
each enumerated query parameter; and every POST whose JSON body takes a
`contact_id` (a preview, a test-send), with only the body fields it declares.
A new endpoint is walked without editing the tests that use this.
"""

from __future__ import annotations

import re
from typing import Any

Call = tuple[str, str, dict[str, Any]]


def endpoint_calls(
    schema: dict[str, Any], ids: dict[str, str], extra: dict[str, str]
) -> list[Call]:
    """(method, url, request options) of every endpoint that can answer with contact data."""
    calls: list[Call] = []
    for path, operations in schema["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "missing"), path)
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            query = {p["name"]: ids[p["name"]] for p in params if p["name"] in ids}
            if method == "get":
                calls.append(("GET", url, {"params": query}))
                calls.extend(
                    ("GET", url, {"params": {**query, param["name"]: value}})
                    for param in params
                    for value in _enum(schema, param.get("schema", {}))
                )
                continue
            fields = _body_fields(schema, operation)
            if method == "post" and "contact_id" in fields:
                body = {"contact_id": ids["contact_id"], **extra}
                body = {k: v for k, v in body.items() if k in fields}
                calls.append(("POST", url, {"json": body, "params": query}))
    return calls


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _enum(schema: dict[str, Any], node: dict[str, Any]) -> list[str]:
    node = _resolve(schema, node)
    for option in node.get("anyOf", []):
        found = _enum(schema, option)
        if found:
            return found
    return [str(v) for v in node.get("enum", [])]


def _body_fields(schema: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema")
    if body is None:
        return set()
    return set(_resolve(schema, body).get("properties", {}))
