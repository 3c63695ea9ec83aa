"""One import row → the values to stage, or the reason it is refused. Pure: no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

from contacts.phones import AddressError, parse_phone, parse_telegram_chat_id
from contacts.validation import MAX_FIELD_VALUE, MAX_NAME, normalize_language, normalize_timezone

from .files import Columns

try:
    from json.encoder import c_encode_basestring as _json_string  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - CPython always has the C encoder
    from json.encoder import py_encode_basestring as _json_string


def _json_object(values: dict[str, str]) -> str:
    """JSON text of {key: string}; keys are field keys ([a-z0-9_]), which need no escaping. ~4x json.dumps."""
    return "{" + ",".join(f'"{key}":{_json_string(value)}' for key, value in values.items()) + "}"


NUL: Final = "\x00"
TRUE_VALUES: Final = frozenset({"1", "true", "yes", "y", "x", "t", "opted_out", "stop"})
FALSE_VALUES: Final = frozenset({"", "0", "false", "no", "n", "f"})


class RowError(NamedTuple):
    row: int
    value: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"row": self.row, "value": self.value, "reason": self.reason}


NUL_REASON: Final = "The row contains a NUL character (\\u0000), which cannot be stored; fix or remove it."


def _nul_error(number: int, cells: list[str]) -> RowError:
    cell = next(c for c in cells if NUL in c)
    # The value is shown and stored (jsonb refuses NUL too): the NUL is marked, not kept.
    return RowError(number, cell.replace(NUL, "\N{REPLACEMENT CHARACTER}")[:50], NUL_REASON)


@dataclass(slots=True)
class StagedRow:
    row: int
    phone: str | None
    telegram_chat_id: str | None
    first_name: str | None
    last_name: str | None
    language: str | None
    fields: str | None  # JSON text, as COPY takes it
    opted_out: bool
    timezone: str | None = None  # IANA name; None: the cell was blank (an update keeps the contact's)

    def copy_tuple(self) -> tuple[object, ...]:
        return (
            self.row,
            self.phone,
            self.telegram_chat_id,
            self.first_name,
            self.last_name,
            self.language,
            self.fields,
            self.opted_out,
            self.timezone,
        )


class RowParser:
    """Reads cells by the file's column map; the client's country reads national numbers."""

    def __init__(self, columns: Columns, region: str | None) -> None:
        attributes = columns.attributes
        self.region = region
        self.phone = attributes["phone"]
        self.telegram = attributes["telegram_chat_id"]
        self.first_name = attributes["first_name"]
        self.last_name = attributes["last_name"]
        self.language = attributes["language"]
        self.timezone = attributes["timezone"]
        self.opted_out = attributes["opted_out"]
        self.fields = columns.fields

    @staticmethod
    def _cell(cells: list[str], index: int | None) -> str:
        if index is None or index >= len(cells):
            return ""
        return cells[index]

    def parse(self, number: int, cells: list[str]) -> StagedRow | RowError:
        if NUL in "".join(cells):  # ~0.1 µs a row; PostgreSQL would refuse the whole chunk's COPY
            return _nul_error(number, cells)
        cell = self._cell
        raw_phone = cell(cells, self.phone)
        raw_telegram = cell(cells, self.telegram)
        phone = telegram = None
        if raw_phone:
            try:
                phone = parse_phone(raw_phone, self.region)
            except AddressError as exc:
                return RowError(number, raw_phone, exc.message)
        if raw_telegram:
            try:
                telegram = parse_telegram_chat_id(raw_telegram)
            except AddressError as exc:
                return RowError(number, raw_telegram, exc.message)
        if phone is None and telegram is None:
            return RowError(number, "", "The row has no phone number.")
        first_name = cell(cells, self.first_name)
        last_name = cell(cells, self.last_name)
        for value, label in ((first_name, "first name"), (last_name, "last name")):
            if len(value) > MAX_NAME:
                return RowError(number, value[:50], f"The {label} is longer than {MAX_NAME} characters.")
        language = cell(cells, self.language) or None
        if language is not None:
            try:
                language = normalize_language(language)
            except ValueError as exc:
                return RowError(number, language, str(exc))
        raw_zone = cell(cells, self.timezone)
        zone: str | None = None
        if raw_zone:
            try:
                zone = normalize_timezone(raw_zone) or None
            except ValueError as exc:
                return RowError(number, raw_zone[:50], str(exc))
        opted_out = cell(cells, self.opted_out).lower()
        if opted_out not in TRUE_VALUES and opted_out not in FALSE_VALUES:
            return RowError(number, opted_out, "opted_out must be yes or no (or 1/0, true/false, empty).")
        fields: dict[str, str] = {}
        for index, key in self.fields:
            value = cell(cells, index)
            if value:
                if len(value) > MAX_FIELD_VALUE:
                    return RowError(number, value[:50], f"{key} is longer than {MAX_FIELD_VALUE} characters.")
                fields[key] = value
        return StagedRow(
            row=number,
            phone=phone,
            telegram_chat_id=telegram,
            first_name=first_name or None,
            last_name=last_name or None,
            language=language,
            fields=_json_object(fields) if fields else None,
            opted_out=opted_out in TRUE_VALUES,
            timezone=zone,
        )


DUPLICATE: Final = "duplicate"


class SeenAddresses:
    """Duplicates inside one file: the first row with a phone (or chat id) wins; later ones count as
    duplicates. Phones are kept as integers: a million of them fit in tens of megabytes."""

    def __init__(self) -> None:
        self.phones: set[int] = set()
        self.telegrams: dict[str, tuple[int, str | None]] = {}

    def check(self, row: StagedRow) -> str | RowError | None:
        """None for a new contact, DUPLICATE, or a RowError when its chat id belongs to another row."""
        telegram = row.telegram_chat_id
        if row.phone is not None:
            key = int(row.phone[1:])
            if key in self.phones:
                return DUPLICATE
            if telegram is not None:
                previous = self.telegrams.get(telegram)
                if previous is not None and previous[1] != row.phone:
                    return RowError(row.row, telegram, f"This telegram_chat_id is also on row {previous[0]}.")
                self.telegrams[telegram] = (row.row, row.phone)
            self.phones.add(key)
            return None
        assert telegram is not None  # noqa: S101 - the parser refuses rows with neither
        if telegram in self.telegrams:
            return DUPLICATE
        self.telegrams[telegram] = (row.row, None)
        return None
