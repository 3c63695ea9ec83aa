"""Languages, field keys and values, import header names."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from contacts.validation import normalize_field_key, validate_fields, validate_language


@pytest.mark.parametrize(
    ("value", "expected"),
    [("eng", "eng"), ("ENG", "eng"), ("fra", "fra"), ("en", "eng"), ("fr", "fra"), ("swa", "swa"), ("lug", "lug")],
)
def test_languages_are_iso_639_3(value, expected):
    assert validate_language(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("English", "eng"), ("french", "fra")])
def test_english_language_names_are_understood(value, expected):
    assert validate_language(value) == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_no_language(value):
    assert validate_language(value) is None


@pytest.mark.parametrize("value", ["xx", "zzz", "english please", "e", 12])
def test_unknown_languages_are_refused(value):
    with pytest.raises(ValidationError) as caught:
        validate_language(value)
    assert caught.value.code == "invalid_language"


def test_fields_keep_string_values_and_text_of_numbers():
    assert validate_fields({"param1": "a", "score": 12, "ratio": 0.5, "a_b_9": ""}) == {
        "param1": "a",
        "score": "12",
        "ratio": "0.5",
        "a_b_9": "",
    }


def test_null_field_values_mean_remove_when_allowed():
    assert validate_fields({"param1": None}, allow_null_values=True) == {"param1": None}


@pytest.mark.parametrize(
    ("fields", "bad_key"),
    [
        ({"Param1": "x"}, "fields.Param1"),
        ({"1param": "x"}, "fields.1param"),
        ({"_x": "x"}, "fields._x"),
        ({"param-1": "x"}, "fields.param-1"),
        ({"a" * 37: "x"}, "fields." + "a" * 37),
        ({"prénom": "x"}, "fields.prénom"),
        ({"": "x"}, "fields."),
        ({"ok": {"nested": "x"}}, "fields.ok"),
        ({"ok": ["x"]}, "fields.ok"),
        ({"ok": True}, "fields.ok"),
        ({"ok": None}, "fields.ok"),
        ({"ok": "x" * 641}, "fields.ok"),
    ],
)
def test_bad_field_keys_and_values_are_named(fields, bad_key):
    with pytest.raises(ValidationError) as caught:
        validate_fields(fields)
    assert list(caught.value.message_dict) == [bad_key]


def test_the_longest_key_is_36_characters():
    assert validate_fields({"a" * 36: "x"}) == {"a" * 36: "x"}


def test_fields_must_be_an_object_of_at_most_100_keys():
    with pytest.raises(ValidationError):
        validate_fields(["param1"])
    with pytest.raises(ValidationError):
        validate_fields({f"k{i}": "x" for i in range(101)})


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Param 1", "param_1"),
        ("param1", "param1"),
        ("First Name", "first_name"),
        ("Prénom", "prenom"),
        ("  E-mail Address ", "e_mail_address"),
        ("1st visit", "f_1st_visit"),
        ("__x__", "x"),
        ("Customer ID#", "customer_id"),
        ("a" * 50, "a" * 36),
        ("日本", ""),
        ("!!!", ""),
    ],
)
def test_import_headers_become_field_keys(header, key):
    assert normalize_field_key(header) == key
