"""Template rendering (SPEC §6): placeholder forms, defaults, precedence, missing values, literals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from templates_app.rendering import Rendered, compile_template, extract_variables, render

CONTACT = {"first_name": "Ann", "last_name": "Okello", "phone": "+256700000001"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Hi {{first_name}}", "Hi Ann"),
        ("Hi {{ first_name }}", "Hi Ann"),
        ("Hi {first_name}", "Hi Ann"),
        ("Hi @contact.first_name", "Hi Ann"),
        ("Hi @fields.city", "Hi Gulu"),
        ("Hi {{contact.first_name}} of {{fields.city}}", "Hi Ann of Gulu"),
        ("{{name}} / {{last_name}} / {{phone}}", "Ann Okello / Okello / +256700000001"),
        ("Code {{code}}.", "Code X1."),
        ("@contact.first_name.", "Ann."),
        ("({first_name})", "(Ann)"),
    ],
)
def test_each_placeholder_form(content, expected):
    rendered = render(content, variables={"code": "X1"}, fields={"city": "Gulu"}, **CONTACT)
    assert rendered == Rendered(expected, ())


@pytest.mark.parametrize(
    ("content", "expected", "missing", "defaulted"),
    [
        ("Hi {{nick|there}}!", "Hi there!", (), ("nick",)),  # a placeholder with a default is never missing
        ("Hi {{ nick | dear friend }}!", "Hi dear friend!", (), ("nick",)),
        ("Hi {{nick|}}!", "Hi !", (), ("nick",)),  # an explicit empty default is a choice, not a gap
        ("Hi {{nick}}!", "Hi !", ("nick",), ()),
        ("Hi {nick}, @fields.nick", "Hi , ", ("nick",), ()),
        ("{{a}} {{b|B}} {{a}}", " B ", ("a",), ("b",)),
        ("{{a|A}} {{a}}", "A ", ("a",), ("a",)),  # the occurrence without a default still renders empty
        ("Hi {{first_name|there}}", "Hi Ann", (), ()),  # a default is only for missing values
    ],
)
def test_missing_values_render_empty_or_default_and_are_reported(content, expected, missing, defaulted):
    rendered = render(content, variables={}, fields={}, **CONTACT)
    assert (rendered.text, rendered.missing, rendered.defaulted) == (expected, missing, defaulted)


def test_defaults_keep_a_pipe_and_inner_spaces():
    assert render("{{x|a | b}}").text == "a | b"


@pytest.mark.parametrize(
    ("variables", "fields", "contact", "expected"),
    [
        ({"first_name": "Var"}, {"first_name": "Field"}, CONTACT, "Var"),
        ({}, {"first_name": "Field"}, CONTACT, "Field"),
        ({}, {}, CONTACT, "Ann"),
        ({"first_name": ""}, {"first_name": ""}, CONTACT, "Ann"),  # empty counts as absent
        ({"first_name": ""}, {"first_name": "Field"}, CONTACT, "Field"),
    ],
)
def test_precedence_variables_then_fields_then_contact(variables, fields, contact, expected):
    assert render("{{first_name}}", variables=variables, fields=fields, **contact).text == expected


@pytest.mark.parametrize(
    ("first_name", "last_name", "expected", "missing"),
    [
        ("Ann", "Okello", "Ann Okello", ()),
        ("Ann", "", "Ann", ()),
        ("", "Okello", "Okello", ()),
        ("", "", "", ("name",)),
    ],
)
def test_name_joins_first_and_last(first_name, last_name, expected, missing):
    rendered = render("{{name}}", first_name=first_name, last_name=last_name)
    assert (rendered.text, rendered.missing) == (expected, missing)


def test_a_recipient_variable_overrides_the_builtin_name():
    assert render("{{name}}", variables={"name": "Boss"}, first_name="Ann").text == "Boss"


def test_non_string_values_are_rendered_as_text():
    assert render("{{n}} {{m}}", variables={"n": 3, "m": None}).text == "3 "


@pytest.mark.parametrize(
    "content",
    [
        "{{ }}",
        "{{}}",
        "{}",
        "{ first_name }",
        "{{first_name",
        "{first_name",
        "first_name}}",
        "{{first_name}",
        "{first_name}}",
        "{{1abc}}",
        "{1abc}",
        "{{first-name}}",
        "{{a b}}",
        '{"first_name": "x"}',
        "{{first_name|de{fault}}",
        "@contact",
        "@contact.",
        "@other.first_name",
        "info@contact.first_name",
        "mail me: ann@fields.io",
        "@@contact.first_name",
        "x.@contact.first_name",
        "{{{{",
        "}}}}",
    ],
)
def test_malformed_or_unknown_placeholders_stay_literal(content):
    rendered = render(content, variables={}, fields={}, **CONTACT)
    assert rendered == Rendered(content, ())
    assert extract_variables(content) == []


def test_triple_braces_render_the_inner_placeholder_between_literal_braces():
    assert render("{{{first_name}}}", first_name="Ann").text == "{Ann}"


def test_json_like_text_around_a_placeholder():
    content = '{"greeting": "Hi {{first_name}}", "id": {id} }'
    assert render(content, variables={"id": "7"}, first_name="Ann").text == '{"greeting": "Hi Ann", "id": 7 }'
    # `{id}}` is ambiguous (a half-closed `{{id}}`?), so it stays literal
    assert render('{"id": {id}}', variables={"id": "7"}).text == '{"id": {id}}'


def test_variables_are_distinct_names_in_order_of_first_appearance():
    content = "@fields.city {{first_name|x}} {code} {{ city }} @contact.first_name {{contact.plan}}"
    assert extract_variables(content) == ["city", "first_name", "code", "plan"]
    assert compile_template(content).variables == ("city", "first_name", "code", "plan")


def test_unicode_names_are_not_placeholders():
    assert extract_variables("{{prénom}} {prénom}") == []


def test_compile_once_render_many():
    template = compile_template("Hi {{first_name|there}}, code {{code}}")
    assert template.render(variables={"code": "A"}, fields={}, first_name="Ann").text == "Hi Ann, code A"
    assert template.render(variables={"code": "B"}, fields={}).text == "Hi there, code B"
    assert compile_template("Hi {{first_name|there}}, code {{code}}") is template


def test_content_without_placeholders_is_returned_as_is():
    content = "No variables here: 50% off {today}!"
    assert extract_variables(content) == ["today"]
    assert render("Plain text.") == Rendered("Plain text.", ())


safe_text = st.text(alphabet=st.characters(blacklist_characters="{}@"), max_size=60)


@given(safe_text)
def test_text_without_braces_or_at_signs_renders_unchanged(text):
    assert render(text, variables={"x": "y"}, first_name="Ann") == Rendered(text, ())


@given(st.text(max_size=80))
def test_rendering_never_fails_and_every_reported_name_was_extracted(content):
    rendered = render(content, variables={}, fields={})
    assert set(rendered.missing) <= set(extract_variables(content))
    assert set(rendered.defaulted) <= set(extract_variables(content))
