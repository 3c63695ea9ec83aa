"""Reading contact import files: CSV (any of , ; tab; UTF-8, UTF-8 with BOM, Latin-1/Windows-1252 or
what charset-normalizer recognises) and XLSX (first sheet, via python-calamine). Pure: no database.

`open_import_file(data)` checks the file (type, header, a phone or telegram_chat_id column) and maps
its columns; `ImportFile.rows()` yields `(row_number, cells)` for every non-blank row after the
header, where `row_number` is what a spreadsheet shows (the header is usually row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from contacts.validation import MAX_FIELDS, normalize_field_key

CSV: Final = "csv"
XLSX: Final = "xlsx"
MAX_ROWS: Final = 1_000_000

# Header (after normalize_field_key) → contact attribute. Anything else becomes a field.
ALIASES: Final = {
    **dict.fromkeys(
        ("phone", "phone_number", "phonenumber", "mobile", "mobile_number", "msisdn", "tel", "telephone", "number"),
        "phone",
    ),
    **dict.fromkeys(("telegram_chat_id", "telegram", "telegram_id", "chat_id"), "telegram_chat_id"),
    **dict.fromkeys(("first_name", "firstname", "given_name"), "first_name"),
    **dict.fromkeys(("last_name", "lastname", "surname", "family_name"), "last_name"),
    **dict.fromkeys(("language", "lang"), "language"),
    **dict.fromkeys(("timezone", "time_zone", "tz"), "timezone"),
    **dict.fromkeys(("opted_out", "optout", "opt_out"), "opted_out"),
}
ATTRIBUTES: Final = ("phone", "telegram_chat_id", "first_name", "last_name", "language", "timezone", "opted_out")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class ImportFileError(Exception):
    """The file cannot be imported at all (as opposed to a bad row). `code` for machines."""

    def __init__(self, code: str, message: str) -> None:
        message = message.replace("\x00", "\N{REPLACEMENT CHARACTER}")  # messages quote cells; jsonb refuses NUL
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Columns:
    """Where each attribute is (column index or None) and which columns become which field keys."""

    attributes: dict[str, int | None]
    fields: tuple[tuple[int, str], ...]


@dataclass
class ImportFile:
    file_format: str
    header_row: int
    headers: list[str]
    columns: Columns
    _iter: Callable[[], Iterator[tuple[int, list[str]]]]

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row_number, cells as strings) for each non-blank row after the header."""
        for number, cells in self._iter():
            if number > self.header_row and any(cells):
                yield number, cells

    def count_rows(self, *, limit: int = MAX_ROWS) -> int:
        """Data rows, refusing a file with more than `limit` (stops reading at limit + 1)."""
        count = 0
        try:
            for _ in self.rows():
                count += 1
                if count > limit:
                    raise ImportFileError(
                        "too_many_rows", f"The file has more than {limit:,} rows; split it into smaller files."
                    )
        except csv.Error as exc:
            raise ImportFileError("invalid_csv", f"The CSV file is malformed: {exc}.") from None
        if count == 0:
            raise ImportFileError("empty_file", "The file has a header but no rows to import.")
        return count


# --- file type and text ------------------------------------------------------------------------------

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, .doc
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf")


def _is_latin(text: str) -> bool:
    """No more than a stray letter or two outside the Latin script: text a Windows-1252 reading suits."""
    foreign = 0
    for ch in set(text[:200_000]):
        if ord(ch) >= 0x250 and ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
            foreign += 1
            if foreign >= 3:
                return False
    return True


# What spreadsheets save as "CSV" when not UTF-8: one-byte Windows, ISO and DOS code pages. Left to
# guess among every codec, charset-normalizer reads a short accented French file as Big5.
LEGACY_ENCODINGS: Final = [
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "cp1251",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "koi8_r",
    "mac_roman",
    "cp850",
]


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; else charset-normalizer's guess among one-byte
    code pages when that is a non-Latin script (e.g. Windows-1251 Cyrillic); else Windows-1252, whose
    letters are Latin-1's (the Latin code pages are too alike to tell apart reliably)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError("unsupported_file_type", "The file is not a CSV or XLSX file.") from None
    if b"\x00" in data[:65536]:
        raise ImportFileError("unsupported_file_type", "The file is not a CSV or XLSX file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    best = charset_normalizer.from_bytes(data[:1_000_000], cp_isolation=LEGACY_ENCODINGS).best()
    if best is None:
        raise ImportFileError("unsupported_file_type", "The file is not a CSV or XLSX file.")
    try:
        guessed = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        guessed = None
    if guessed is not None and not _is_latin(guessed):
        return guessed
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _sniff_delimiter(first_line: str) -> str:
    counts = dict.fromkeys((",", ";", "\t"), 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(text: str) -> Callable[[], Iterator[tuple[int, list[str]]]]:
    start = text.lstrip("\r\n")
    first_line = start.split("\n", 1)[0]
    delimiter = _sniff_delimiter(first_line)

    def rows() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        for number, cells in enumerate(reader, start=1):
            yield number, [c.strip() for c in cells]

    return rows


def cell_text(value: object) -> str:
    """An XLSX cell as the text a person sees: 256772123456.0 → "256772123456", dates in ISO 8601."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip()


def _xlsx_rows(data: bytes) -> Callable[[], Iterator[tuple[int, list[str]]]]:
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not workbook.sheet_names:
            raise ImportFileError("empty_file", "The workbook has no sheets.")
        sheet = workbook.get_sheet_by_index(0)
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - calamine raises several types for files that are not XLSX
        raise ImportFileError("unsupported_file_type", "The file is not a valid XLSX workbook.") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        # calamine yields rows from the sheet's first row, so the index is the spreadsheet row.
        for index, cells in enumerate(sheet.iter_rows()):
            yield index + 1, [cell_text(c) for c in cells]

    return rows


# --- header ------------------------------------------------------------------------------------------


def map_columns(headers: list[str]) -> Columns:
    attributes: dict[str, int | None] = dict.fromkeys(ATTRIBUTES)
    fields: list[tuple[int, str]] = []
    owner: dict[str, str] = {}
    for index, header in enumerate(headers):
        if not header.strip():
            continue  # a column without a header (often a trailing delimiter) is ignored
        key = normalize_field_key(header)
        if not key:
            raise ImportFileError(
                "invalid_header", f"The column header '{header[:40]}' has no letters or digits to name a field."
            )
        target = ALIASES.get(key, key)
        if target in owner:
            raise ImportFileError(
                "invalid_header",
                f"The columns '{owner[target][:40]}' and '{header[:40]}' both give '{target}'; keep one.",
            )
        owner[target] = header
        if target in attributes:
            attributes[target] = index
        else:
            fields.append((index, key))
    if attributes["phone"] is None and attributes["telegram_chat_id"] is None:
        raise ImportFileError(
            "missing_phone_column",
            "The file needs a 'phone' column (or 'telegram_chat_id'); the first row must be the column names.",
        )
    if len(fields) > MAX_FIELDS:
        raise ImportFileError("invalid_header", f"The file has more than {MAX_FIELDS} field columns.")
    return Columns(attributes=attributes, fields=tuple(fields))


def open_import_file(data: bytes) -> ImportFile:
    """Check the file and map its header; raises ImportFileError. Rows are read later, lazily."""
    if not data or not data.strip():
        raise ImportFileError("empty_file", "The file is empty.")
    if data.startswith(_ZIP):
        file_format, iterate = XLSX, _xlsx_rows(data)
    elif data.startswith(_OLE2):
        raise ImportFileError("unsupported_file_type", "Legacy .xls files are not supported: save it as XLSX or CSV.")
    elif data.startswith(_BINARY_MAGIC):
        raise ImportFileError("unsupported_file_type", "The file is not a CSV or XLSX file.")
    else:
        file_format, iterate = CSV, _csv_rows(decode_text(data))
    try:
        for number, cells in iterate():
            if any(cells):
                return ImportFile(file_format, number, cells, map_columns(cells), iterate)
    except csv.Error as exc:
        raise ImportFileError("invalid_csv", f"The CSV file is malformed: {exc}.") from None
    raise ImportFileError("empty_file", "The file is empty.")
