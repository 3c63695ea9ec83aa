"""Builders of import files for the tests: CSV in any delimiter and encoding, and XLSX."""

from __future__ import annotations

import codecs
import io
from collections.abc import Sequence

import openpyxl

Row = Sequence[object]


def csv_bytes(rows: Sequence[Row], *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False) -> bytes:
    text = "\n".join(delimiter.join("" if cell is None else str(cell) for cell in row) for row in rows) + "\n"
    data = text.encode(encoding)
    return codecs.BOM_UTF8 + data if bom else data


def xlsx_bytes(rows: Sequence[Row]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(data: bytes, name: str = "contacts.csv") -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


# A file with every kind of row: valid national and international numbers, a duplicate, invalid
# phones of several kinds, a blank line, extra columns that become fields.
HEADER = ["Phone", "First Name", "last_name", "Language", "Param 1", "City"]
MIXED_ROWS = [
    HEADER,
    ["+256772000001", "Amina", "Nakato", "eng", "p1", "Kampala"],  # row 2
    ["0772 000 002", "Hélène", "Noël", "fra", "", "Gulu"],  # row 3, national
    ["+256772000001", "Again", "Dup", "", "", ""],  # row 4, duplicate of row 2
    ["1234", "Short", "", "", "", ""],  # row 5, too short
    ["not a phone", "Bad", "", "", "", ""],  # row 6
    [],  # row 7, blank: skipped, not counted
    ["+254712000003", "Wanjiru", "Kamau", "", "p3", ""],  # row 8
    ["", "No", "Phone", "", "", ""],  # row 9, no phone
    ["+33612000004", "Zoë", "", "zz", "", ""],  # row 10, bad language
]
MIXED_ERRORS = [
    {"row": 5, "value": "1234", "reason": "Too short for a phone number in Uganda."},
    {"row": 6, "value": "not a phone", "reason": "Not a phone number: it contains letters."},
    {"row": 9, "value": "", "reason": "The row has no phone number."},
    {"row": 10, "value": "zz", "reason": "'zz' is not an ISO 639-3 language code (e.g. eng, fra, swa)."},
]
