"""Reading import files: encodings, delimiters, headers, XLSX cells, and files refused outright."""

from __future__ import annotations

import codecs
import io
import zipfile
from datetime import date, datetime

import pytest

from contacts.imports.files import ImportFileError, cell_text, decode_text, open_import_file
from tests.contacts.files import csv_bytes, xlsx_bytes

TEXT = "phone,first_name\n+33612345678,Hélène Noël àéèùçô\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (TEXT.encode("utf-8"), TEXT),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), TEXT),
        (TEXT.encode("latin-1"), TEXT),
        (TEXT.encode("cp1252"), TEXT),
        (
            "phone,name\n+4915112345678,Jürgen Müller-Lüdenscheidt\n+4915112345679,Straße Öl\n".encode("latin-1"),
            "phone,name\n+4915112345678,Jürgen Müller-Lüdenscheidt\n+4915112345679,Straße Öl\n",
        ),
        ("phone,name\n+33612345678,Prix 5 €\n".encode("cp1252"), "phone,name\n+33612345678,Prix 5 €\n"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), TEXT),
        (
            "phone;имя;фамилия\n+79161234567;Иван Петров;Сидоров\n+79161234568;Мария;Иванова\n".encode("cp1251"),
            "phone;имя;фамилия\n+79161234567;Иван Петров;Сидоров\n+79161234568;Мария;Иванова\n",
        ),
    ],
)
def test_encodings_are_detected(data, expected):
    assert decode_text(data) == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_detected_from_the_header(delimiter):
    data = csv_bytes([["phone", "first_name", "note"], ["+256772000001", "Ann", "a b"]], delimiter=delimiter)
    table = open_import_file(data)
    assert table.headers == ["phone", "first_name", "note"]
    assert list(table.rows()) == [(2, ["+256772000001", "Ann", "a b"])]


def test_quoted_delimiters_in_the_header_do_not_count():
    data = b'phone;"name, full";city\n+256772000001;"Ann, B";Kampala\n'
    table = open_import_file(data)
    assert table.headers == ["phone", "name, full", "city"]
    assert list(table.rows()) == [(2, ["+256772000001", "Ann, B", "Kampala"])]


def test_a_single_column_file_is_fine():
    table = open_import_file(b"phone\n+256772000001\n0772000002\n")
    assert [cells for _, cells in table.rows()] == [["+256772000001"], ["0772000002"]]
    assert table.count_rows() == 2


def test_rows_carry_spreadsheet_row_numbers_and_skip_blank_lines():
    table = open_import_file(b"\n\nphone,name\n+256772000001,a\n\n,\n+256772000002,b\r\n")
    assert table.header_row == 3
    assert [number for number, _ in table.rows()] == [4, 7]


def test_header_aliases_and_fields():
    data = csv_bytes(
        [["Mobile Number", "Given Name", "Surname", "Lang", "Opt-Out", "Param 1", "", "Ville", "Time Zone"]]
    )
    data += b"+256772000001,a,b,eng,no,p,,Kampala,Africa/Kampala\n"
    table = open_import_file(data)
    assert table.columns.attributes == {
        "phone": 0,
        "telegram_chat_id": None,
        "first_name": 1,
        "last_name": 2,
        "language": 3,
        "timezone": 8,
        "opted_out": 4,
    }
    assert table.columns.fields == ((5, "param_1"), (7, "ville"))


def test_a_telegram_chat_id_column_is_enough():
    table = open_import_file(b"telegram_chat_id,name\n123,a\n")
    assert table.columns.attributes["phone"] is None
    assert table.columns.attributes["telegram_chat_id"] == 0


def test_xlsx_rows_and_cells():
    data = xlsx_bytes(
        [
            [],
            ["Phone", "Name", "Score", "Since", "VIP"],
            [256772000001, "Ann", 12.5, date(2024, 1, 2), True],
            ["+256772000002", None, 3, datetime(2024, 1, 2, 3, 4), False],
        ]
    )
    table = open_import_file(data)
    assert table.file_format == "xlsx"
    assert table.header_row == 2
    assert list(table.rows()) == [
        (3, ["256772000001", "Ann", "12.5", "2024-01-02", "true"]),
        (4, ["+256772000002", "", "3", "2024-01-02T03:04:00", "false"]),
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), ("", ""), (" a ", "a"), (256772123456.0, "256772123456"), (0.25, "0.25"), (7, "7"), (True, "true")],
)
def test_cell_text(value, text):
    assert cell_text(value) == text


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"  \n\r\n", "empty_file"),
        (csv_bytes([["phone", "name"]]), "empty_file"),
        (xlsx_bytes([]), "empty_file"),
        (xlsx_bytes([["phone", "name"]]), "empty_file"),
        (csv_bytes([["name", "email"], ["Ann", "a@example.com"]]), "missing_phone_column"),
        (xlsx_bytes([["name"], ["Ann"]]), "missing_phone_column"),
        (b'{"phone": "+256772000001"}\n', "missing_phone_column"),
        (csv_bytes([["phone", "mobile"], ["+256772000001", "+256772000002"]]), "invalid_header"),
        (csv_bytes([["phone", "Param 1", "param_1"], ["+256772000001", "a", "b"]]), "invalid_header"),
        (csv_bytes([["phone", "日本"], ["+256772000001", "a"]]), "invalid_header"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "unsupported_file_type"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "unsupported_file_type"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "unsupported_file_type"),
        (_zip(["word/document.xml"]), "unsupported_file_type"),
        (b"PK\x03\x04garbage", "unsupported_file_type"),
        (b"phone\n\x00\x01\x02\x03binary", "unsupported_file_type"),
    ],
)
def test_files_that_cannot_be_imported(data, code):
    with pytest.raises(ImportFileError) as caught:
        open_import_file(data).count_rows()
    assert caught.value.code == code
    assert caught.value.message


def test_more_rows_than_the_limit_are_refused():
    table = open_import_file(b"phone\n" + b"+256772000001\n" * 11)
    assert table.count_rows(limit=11) == 11
    with pytest.raises(ImportFileError) as caught:
        open_import_file(b"phone\n" + b"+256772000001\n" * 12).count_rows(limit=11)
    assert caught.value.code == "too_many_rows"
