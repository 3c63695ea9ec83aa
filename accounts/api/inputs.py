"""Input every API request is refused for before a view reads it: the NUL character, and JSON nested
too deeply to handle.

PostgreSQL cannot store U+0000 in text or jsonb, so a NUL that reached a query used to answer 500.
Rather than teach every serializer, service and filter about it, `refuse_nul(request)` walks the
query parameters and the parsed body (JSON, form or multipart: keys and values, nested, and the
names of uploaded files) once, and answers 400 `nul_character` naming each place it found one.

Python's json module recurses, so `[[[[…]]]]` a thousand deep raised RecursionError (500), and a
body just under that depth could still overflow whatever walked it next: `JSONParser` answers 400
`parse_error` for anything nested deeper than MAX_JSON_DEPTH (no Herald body nests more than three).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request

NUL: Final = "\x00"
NUL_CODE: Final = "nul_character"
NUL_MESSAGE: Final = "The NUL character (\\u0000) is not allowed."
MAX_JSON_DEPTH: Final = 32


def _name(path: str, key: object) -> str:
    # The path is echoed in the error (and may be stored with an idempotent reply): never a raw NUL.
    part = str(key).replace(NUL, "\\u0000")
    return f"{path}.{part}" if path else part


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths (`text.eng`, `recipients.3`) of every string holding a NUL, keys included.

    Iterative, so a deeply nested body cannot exhaust the stack.
    """
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                found.append(where)
        elif isinstance(item, UploadedFile):
            if item.name and NUL in item.name:
                found.append(where)
        elif isinstance(item, MultiValueDict):  # QueryDict: a repeated name is one field
            for key, values in item.lists():
                name = _name(where, key)
                if NUL in str(key):
                    found.append(name)
                stack.extend((name, v) for v in values)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                name = _name(where, key)
                if NUL in str(key):
                    found.append(name)
                stack.append((name, child))
        elif isinstance(item, list | tuple):
            stack.extend((_name(where, index), child) for index, child in enumerate(item))
    return sorted(set(found))


def refuse_nul(request: Request) -> None:
    """ValidationError (400 `nul_character`) naming every query parameter or body field with a NUL."""
    paths = nul_paths(request.query_params) + nul_paths(request.data)
    if paths:
        names = dict.fromkeys(path or "non_field_errors" for path in paths)
        raise ValidationError({name: [NUL_MESSAGE] for name in names}, code=NUL_CODE)


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest (a scalar is 0), without recursing."""
    deepest = 0
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        depth, item = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((depth + 1, child) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 400 rather than 500 for JSON nested beyond MAX_JSON_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        message = f"JSON parse error - objects and arrays may nest at most {MAX_JSON_DEPTH} deep."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(message) from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(message)
        return data
