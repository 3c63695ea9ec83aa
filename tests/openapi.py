"""The API's own OpenAPI schema, and a check that an answer is what it declares (status and body).

The in-process twin of the live schema fuzzer (tests/live/test_schema_fuzz.py): tests call
`assert_matches_schema(response, "post", "/api/v1/broadcasts/")` on answers they provoke on purpose.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from drf_spectacular.generators import SchemaGenerator


@functools.cache
def api_schema() -> dict[str, Any]:
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return schema


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation in the schema."""
    return [
        (method, path, operation)
        for path, item in api_schema()["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _components() -> dict[str, Any]:
    return {"schemas": _json_schema(api_schema()["components"]["schemas"])}


def assert_matches_schema(response: Any, method: str, path: str) -> None:
    """The response's status is declared for this operation, and its JSON body matches that status's schema."""
    operation = api_schema()["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path} answered {status}, not declared"
    content = operation["responses"][status].get("content")
    if content is None:
        assert not response.content, f"{method.upper()} {path} {status} declares no body but answered one"
        return
    schema = {**_json_schema(content["application/json"]["schema"]), "components": _components()}
    jsonschema.validate(response.json(), schema)
