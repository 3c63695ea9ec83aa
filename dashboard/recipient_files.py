"""Recipients uploaded as a file in the compose wizard: parsed here, at the door, into the plain
`recipients` list of the create body. Only the file's shape is judged here (text, a phone column,
the size); whether each line is a valid address is the service's call, which skips and reports the
invalid ones exactly as for pasted numbers."""

from __future__ import annotations

import csv
import io

from broadcasts.validation import MAX_RECIPIENTS

MAX_FILE_BYTES = 2 * 1024 * 1024  # 10,000 lines with a few columns fit in far less
EXTENSIONS = (".csv", ".txt")
ADDRESS_COLUMNS = ("phone", "urn")  # a CSV's recipient column, the first of these found
DELIMITERS = ",;\t"


class RecipientFileError(ValueError):
    """A file the wizard cannot read as recipients; the message is for the person who uploaded it."""


def _text(name: str, data: bytes) -> str:
    if not name.lower().endswith(EXTENSIONS):
        raise RecipientFileError(f"“{name}” is not a .csv or .txt file. Save the list as CSV or plain text.")
    if len(data) > MAX_FILE_BYTES:
        raise RecipientFileError(f"The file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,}.")
    if b"\x00" in data:
        raise RecipientFileError("The file is not text (a spreadsheet?): export it as CSV.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecipientFileError("The file is not UTF-8 text: save it as CSV UTF-8.") from None


def _delimiter(first_line: str) -> str | None:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def parse_recipients(name: str, data: bytes) -> list[str]:
    """Phones or URNs from a file: one a line, or a CSV with a `phone` (or `urn`) column.

    A one-column file may start with a `phone`/`urn` header. Blank lines and cells are skipped.
    Raises RecipientFileError for a file that is not text, a CSV without a phone column, no
    recipient at all, or more than MAX_RECIPIENTS."""
    text = _text(name, data)
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
    if not values:
        raise RecipientFileError("The file holds no phone numbers.")
    if len(values) > MAX_RECIPIENTS:
        raise RecipientFileError(
            f"The file holds {len(values):,} recipients; at most {MAX_RECIPIENTS:,} a broadcast. "
            "For more, import them as a contact list and send to the list."
        )
    return values
