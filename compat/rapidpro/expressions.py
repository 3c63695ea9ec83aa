"""RapidPro's message expressions rewritten into what Herald's renderer understands
(templates_app/rendering.py), before the text reaches `broadcast_create` (COMPAT.md §2.3).

Herald already renders `@contact.<name>` and `@fields.<name>` (a recipient variable, then a
contact field, then the built-ins `first_name`, `last_name`, `name`, `phone`), unless the `@`
follows a letter, digit, `_`, `.` or `@` (so e-mail addresses stay literal). So `@contact.name`,
`@contact.first_name` and `@fields.age` pass through unchanged. The rest is rewritten:

| RapidPro                          | sent to Herald |
|-----------------------------------|----------------|
| `@contact.fields.X`               | `@fields.X`    |
| `@contact.tel`, `@urns.tel`       | `{{phone}}`    |
| `@contact` (alone)                | `{{name}}`     |
| `@@` (an escaped `@`)             | `@`            |
| `@(…)` (an expression)            | 400, named     |

Herald's renderer has no escape of its own, so `@@contact.x` / `@@fields.x` (RapidPro's literal
`@contact.x`) cannot be sent as written: a 400 says so rather than sending a rendered value.
"""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# An expression starts at an `@` that does not follow a word character, `.` or `@` (the renderer's
# own rule); `@@` is matched first, so its second `@` is never read as the start of one.
_TOKEN = re.compile(
    r"@@(?P<escaped>(?:contact|fields)\." + _NAME + r")?"
    r"|(?<![A-Za-z0-9_.@])@(?:"
    r"(?P<call>\()"
    r"|contact\.fields\.(?P<field>" + _NAME + r")"
    r"|(?P<tel>contact\.tel|urns\.tel)(?![A-Za-z0-9_])"
    r"|(?P<contact>contact)(?!\.?[A-Za-z0-9_])"
    r")"
)

EXPRESSION_REFUSED = "Expressions @(...) are not supported by Herald."
ESCAPE_REFUSED = (
    "Herald cannot send {text} literally: its renderer has no escape for @contact. or @fields. "
    "(write it another way, e.g. without the @)."
)


class ExpressionError(ValueError):
    pass


def rewrite(text: str) -> str:
    """`text` with RapidPro's expressions in Herald's forms, or ExpressionError (the message)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0).startswith("@@"):
            escaped = match.group("escaped")
            if escaped:
                raise ExpressionError(ESCAPE_REFUSED.format(text=f"@@{escaped}"))
            return "@"
        if match.group("call"):
            raise ExpressionError(EXPRESSION_REFUSED)
        if match.group("field"):
            return f"@fields.{match.group('field')}"
        if match.group("tel"):
            return "{{phone}}"
        return "{{name}}"

    return _TOKEN.sub(replace, text)


def rewrite_texts(texts: dict[str, str], field: str = "text") -> dict[str, str]:
    """Every translation rewritten; a refusal is a 400 `{field: [message]}` (DRF's shape)."""
    try:
        return {language: rewrite(value) for language, value in texts.items()}
    except ExpressionError as exc:
        raise ValidationError({field: [str(exc)]}) from None
