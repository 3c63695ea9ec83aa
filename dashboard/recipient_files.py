"""Recipients uploaded as a file in the compose wizard: parsed here, at the door, into the plain
`recipients` list of the create body. Only the file's shape is judged here (text, a phone column,
the size); whether each line is a valid address is the service's call, which skips and reports the
invalid ones exactly as for pasted numbers.

An XLSX workbook is read by the contact import's reader (`contacts.imports.files.open_import_file`:
the first sheet, its header mapped with the import's aliases), never by a second one here."""

from __future__ import annotations

import csv
import io

from broadcasts.validation import MAX_RECIPIENTS
from contacts.imports.files import XLSX, ImportFileError, open_import_file

MAX_FILE_BYTES = 2 * 1024 * 1024  # 10,000 lines with a few columns fit in far less
TEXT_EXTENSIONS = (".csv", ".txt")
WORKBOOK_EXTENSIONS = (".xlsx",)
ADDRESS_COLUMNS = ("phone", "urn")  # a CSV's recipient column, the first of these found
DELIMITERS = ",;\t"


class RecipientFileError(ValueError):
    """A file the wizard cannot read as recipients; the message is for the person who uploaded it."""


def _checked(name: str, data: bytes) -> None:
    if not name.lower().endswith(TEXT_EXTENSIONS + WORKBOOK_EXTENSIONS):
        raise RecipientFileError(
            f"“{name}” is not a .csv, .txt or .xlsx file. Save the list as CSV, plain text or an Excel workbook."
        )
    if len(data) > MAX_FILE_BYTES:
        raise RecipientFileError(f"The file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,}.")


def _text(data: bytes) -> str:
    if b"\x00" in data:
        raise RecipientFileError("The file is not text (a spreadsheet?): save it as .xlsx or export it as CSV.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecipientFileError("The file is not UTF-8 text: save it as CSV UTF-8.") from None


def _delimiter(first_line: str) -> str | None:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def _limited(values: list[str]) -> list[str]:
    if not values:
        raise RecipientFileError("The file holds no phone numbers.")
    if len(values) > MAX_RECIPIENTS:
        raise RecipientFileError(
            f"The file holds {len(values):,} recipients; at most {MAX_RECIPIENTS:,} a broadcast. "
            "For more, import them as a contact list and send to the list."
        )
    return values


def _workbook_recipients(data: bytes) -> list[str]:
    """The phone column (or Telegram chat ids) of the workbook's first sheet, read by the contact
    import's reader; its refusals (not a workbook, a legacy .xls, no phone column) keep their words."""
    try:
        workbook = open_import_file(data)
        if workbook.file_format != XLSX:
            raise RecipientFileError("The file is not a valid XLSX workbook: save it from Excel as .xlsx, or as CSV.")
        attributes = workbook.columns.attributes
        column, prefix = attributes["phone"], ""
        if column is None:  # the reader accepts a header with a phone or else a telegram_chat_id column
            column, prefix = attributes["telegram_chat_id"], "telegram:"
        if column is None:
            raise RecipientFileError("The workbook has no “phone” column.")
        values: list[str] = []
        for _, cells in workbook.rows():
            value = cells[column].strip() if len(cells) > column else ""
            if value:
                values.append(prefix + value)
            if len(values) > MAX_RECIPIENTS:  # refused at once: reading on would only cost time
                raise RecipientFileError(
                    f"The file holds more than {MAX_RECIPIENTS:,} recipients; at most {MAX_RECIPIENTS:,} a broadcast. "
                    "For more, import them as a contact list and send to the list."
                )
    except ImportFileError as exc:
        raise RecipientFileError(exc.message) from None
    return values


def parse_recipients(name: str, data: bytes) -> list[str]:
    """Phones or URNs from a file: one a line, a CSV with a `phone` (or `urn`) column, or an XLSX
    workbook whose first sheet has a phone column (any header the contact import reads as one).

    A one-column text file may start with a `phone`/`urn` header. Blank lines and cells are skipped.
    Raises RecipientFileError for a file that is not text or a workbook, has no phone column, no
    recipient at all, or more than MAX_RECIPIENTS."""
    _checked(name, data)
    if name.lower().endswith(WORKBOOK_EXTENSIONS):
        return _limited(_workbook_recipients(data))
    text = _text(data)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = _delimiter(first)
    if delimiter is None:  # one value a line
        values = [line.strip().strip('"') for line in lines if line.strip()]
        if values and values[0].lower() in ADDRESS_COLUMNS:
            values = values[1:]
    else:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in row)]
        header = [cell.strip().lower() for cell in rows[0]]
        column = next((header.index(c) for c in ADDRESS_COLUMNS if c in header), None)
        if column is None:
            shown = ", ".join(cell for cell in header if cell)[:200]
            raise RecipientFileError(f"The CSV has no “phone” column (its columns: {shown}).")
        values = [row[column].strip() for row in rows[1:] if len(row) > column and row[column].strip()]
    return _limited(values)
