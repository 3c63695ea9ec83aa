"""Template rendering: placeholders → each recipient's values. One pure module, no database.

Placeholder forms (names are ASCII identifiers: a letter or `_`, then letters, digits, `_`):

- `{{name}}` (canonical), with optional spaces `{{ name }}`; `{{contact.name}}` and
  `{{fields.name}}` are the same variable;
- `{{name|default}}`: the default (trimmed, any text without braces) replaces a missing value;
- `{name}`: single braces around a bare identifier only, so JSON-like text (`{"a": 1}`), `{ x }`
  and `{}` stay literal;
- `@contact.name` and `@fields.name`, unless the `@` follows a letter, digit, `_`, `.` or `@`, so
  e-mail addresses (`info@contact.com`) stay literal.

Every form resolves the name the same way, first non-empty value wins: the recipient's own
variables, then the contact's fields, then the built-ins `first_name`, `last_name`, `name`
(first and last joined by a space) and `phone`. An empty value counts as absent. A missing value
renders its default if the placeholder has one (reported in `Rendered.defaulted`), else renders
empty (reported in `Rendered.missing`): a placeholder with a default is never missing. Anything
else that looks like a placeholder but is not one (`{{ }}`, `{{1x}}`, an unclosed `{{name`, `{}`)
stays literal.
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
    missing: tuple[str, ...]  # names that rendered empty (no value, no default), in order of first appearance
    defaulted: tuple[str, ...] = ()  # names without a value that rendered their placeholder's default


def _builtins(first_name: str, last_name: str, phone: str) -> dict[str, str]:
    return {
        "first_name": first_name,
        "last_name": last_name,
        "name": f"{first_name} {last_name}".strip(),
        "phone": phone,
    }


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template parsed once; `render` then costs a few dictionary lookups per placeholder."""

    content: str
    # (literal text before the placeholder, name, default); the last piece may have name None.
    pieces: tuple[tuple[str, str | None, str | None], ...] = field(repr=False)
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
        builtins: dict[str, str] | None = None
        for literal, name, default in self.pieces:
            out.append(literal)
            if name is None:
                continue
            value = variables.get(name)
            if value is None or value == "":
                value = fields.get(name)
                if value is None or value == "":
                    if builtins is None:
                        builtins = _builtins(first_name, last_name, phone)
                    value = builtins.get(name, "")
            if type(value) is not str:
                value = str(value)
            if not value:
                if default is None:
                    if name not in missing:
                        missing.append(name)
                else:
                    value = default
                    if name not in defaulted:
                        defaulted.append(name)
            out.append(value)
        return Rendered("".join(out), tuple(missing), tuple(defaulted))

    def values(
        self,
        *,
        variables: Mapping[str, object] = _EMPTY,
        fields: Mapping[str, object] = _EMPTY,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
    ) -> tuple[str, ...]:
        """Each distinct variable's value as `render` fills it (its default when it has none), in
        order of first appearance: the parameters of a provider-side template (WhatsApp). Each one
        is `render` of that placeholder alone, so the two can never disagree."""
        out: list[str] = []
        for name in self.variables:
            default = next((d for _literal, n, d in self.pieces if n == name and d is not None), None)
            alone = CompiledTemplate(content="", pieces=(("", name, default),), variables=(name,))
            rendered = alone.render(
                variables=variables, fields=fields, first_name=first_name, last_name=last_name, phone=phone
            )
            out.append(rendered.text)
        return tuple(out)


def _parse(content: str) -> CompiledTemplate:
    pieces: list[tuple[str, str | None, str | None]] = []
    names: dict[str, None] = {}
    position = 0
    for match in _PLACEHOLDER.finditer(content):
        name = match.group("double") or match.group("single") or match.group("at")
        default = match.group("default")
        pieces.append((content[position : match.start()], name, default.strip() if default is not None else None))
        names[name] = None
        position = match.end()
    if position < len(content):
        pieces.append((content[position:], None, None))
    return CompiledTemplate(content=content, pieces=tuple(pieces), variables=tuple(names))


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
