"""Template rendering: placeholders → each recipient's values. One pure module, no database.

Placeholder forms (names are ASCII identifiers: a letter or `_`, then letters, digits, `_`):

- `{{name}}` (canonical), with optional spaces `{{ name }}`; `{{contact.name}}` and
  `{{fields.name}}` are the same variable;
- `{{name|default}}`: the default (trimmed, any text without braces) replaces a missing value;
- `{name}`: single braces around a bare identifier only, so JSON-like text (`{"a": 1}`), `{ x }`
  and `{}` stay literal;
- `@contact.name` and `@fields.name`, unless the `@` follows a letter, digit, `.` or `@`, so
  e-mail addresses (`info@contact.com`) stay literal.

Every form resolves the name the same way, first non-empty value wins: the recipient's own
variables, then the contact's fields, then the built-ins `first_name`, `last_name`, `name`
(first and last joined by a space) and `phone`. An empty value counts as absent. A missing value
renders empty, or the default if one is given, and is reported in `Rendered.missing` either way
(`Rendered.defaulted` says which of them had a default). Anything else that looks like a
placeholder but is not one (`{{ }}`, `{{1x}}`, an unclosed `{{name`, `{}`) stays literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

BUILTINS = ("first_name", "last_name", "name", "phone")
_EMPTY: Mapping[str, object] = MappingProxyType({})

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(
    r"\{\{\s*(?:contact\.|fields\.)?(?P<double>" + _NAME + r")\s*(?:\|(?P<default>[^{}]*))?\}\}"
    r"|(?<!\{)\{(?P<single>" + _NAME + r")\}(?!\})"
    r"|(?<![A-Za-z0-9_.@])@(?:contact|fields)\.(?P<at>" + _NAME + r")"
)


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    missing: tuple[str, ...]  # names without a value, in order of first appearance (defaulted ones too)
    defaulted: tuple[str, ...] = ()  # those of `missing` that rendered their default


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    default: str | None


def _lookup(
    name: str,
    variables: Mapping[str, object],
    fields: Mapping[str, object],
    first_name: str,
    last_name: str,
    phone: str,
) -> str:
    value = variables.get(name)
    if value is None or value == "":
        value = fields.get(name)
    if value is not None and value != "":
        return value if isinstance(value, str) else str(value)
    if name == "first_name":
        return first_name
    if name == "last_name":
        return last_name
    if name == "name":
        return f"{first_name} {last_name}".strip()
    if name == "phone":
        return phone
    return ""


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template parsed once; `render` then costs a dictionary lookup per placeholder."""

    content: str
    parts: tuple[str | _Slot, ...] = field(repr=False)
    variables: tuple[str, ...]  # distinct names, in order of first appearance

    def render(
        self,
        *,
        variables: Mapping[str, object] = _EMPTY,
        fields: Mapping[str, object] = _EMPTY,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
    ) -> Rendered:
        if not self.variables:
            return Rendered(self.content, ())
        out: list[str] = []
        missing: list[str] = []
        defaulted: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _lookup(part.name, variables, fields, first_name, last_name, phone)
            if not value:
                if part.name not in missing:
                    missing.append(part.name)
                if part.default is not None:
                    value = part.default
                    if part.name not in defaulted:
                        defaulted.append(part.name)
            out.append(value)
        return Rendered("".join(out), tuple(missing), tuple(defaulted))


def _parse(content: str) -> CompiledTemplate:
    parts: list[str | _Slot] = []
    names: dict[str, None] = {}
    position = 0
    for match in _PLACEHOLDER.finditer(content):
        name = match.group("double") or match.group("single") or match.group("at")
        default = match.group("default")
        if match.start() > position:
            parts.append(content[position : match.start()])
        parts.append(_Slot(name, default.strip() if default is not None else None))
        names[name] = None
        position = match.end()
    if position < len(content):
        parts.append(content[position:])
    return CompiledTemplate(content=content, parts=tuple(parts), variables=tuple(names))


@lru_cache(maxsize=512)
def compile_template(content: str) -> CompiledTemplate:
    """Parse `content` once (cached: a broadcast renders the same few templates many times)."""
    return _parse(content)


def extract_variables(content: str) -> list[str]:
    """The distinct variable names of `content`, in order of first appearance."""
    return list(compile_template(content).variables)


def render(
    content: str,
    *,
    variables: Mapping[str, object] = _EMPTY,
    fields: Mapping[str, object] = _EMPTY,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
) -> Rendered:
    return compile_template(content).render(
        variables=variables, fields=fields, first_name=first_name, last_name=last_name, phone=phone
    )
