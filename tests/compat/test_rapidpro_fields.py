"""SPEC §14, RapidPro v2 `fields.json` (COMPAT.md §2.4): the client's registry of contact fields —
listed, created (key made from the name), updated by `?key=` — with RapidPro's words."""

from __future__ import annotations

import pytest

from contacts.models import ContactField
from tests.factories.accounts import ClientFactory

URL = "/api/v2/fields.json"
FORBIDDEN = {"detail": "You do not have permission to perform this action."}

pytestmark = pytest.mark.django_db


def _error(response, status=400):
    assert response.status_code == status, response.content
    return response.json()


def _field(key, name, type_, value_type=None):
    return {
        "key": key,
        "name": name,
        "type": type_,
        "featured": False,
        "priority": 0,
        "usages": {"flows": 0, "groups": 0, "campaign_events": 0},
        "agent_access": "view",
        "label": name,
        "value_type": value_type or type_,
    }


def test_fields_are_listed_newest_first_and_filtered_by_key(rapidpro):
    ContactField.objects.create(client=rapidpro.tenant, key="nick_name", name="Nick Name")
    ContactField.objects.create(client=rapidpro.tenant, key="age", name="Age", type="number")
    ContactField.objects.create(client=ClientFactory(), key="theirs", name="Theirs")
    assert rapidpro.get(URL).json() == {
        "next": None,
        "previous": None,
        "results": [_field("age", "Age", "number", "numeric"), _field("nick_name", "Nick Name", "text")],
    }
    assert rapidpro.get(f"{URL}?key=nick_name").json()["results"] == [_field("nick_name", "Nick Name", "text")]
    assert rapidpro.get(f"{URL}?key=theirs").json()["results"] == []


@pytest.mark.parametrize(
    ("name", "key"),
    [("Nick name", "nick_name"), ("Age", "age"), ("Date-of birth", "date_of_birth"), ("a  -- b", "a_b")],
)
def test_create_makes_the_key_from_the_name(rapidpro, name, key):
    response = rapidpro.post(URL, {"name": name, "type": "text"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == _field(key, name, "text")
    assert ContactField.objects.get(client=rapidpro.tenant).key == key


@pytest.mark.parametrize("type_", ["text", "number", "datetime", "state", "district", "ward"])
def test_every_rapidpro_type_is_kept(rapidpro, type_):
    response = rapidpro.post(URL, {"name": "Thing", "type": type_}, format="json")
    assert response.status_code == 201
    assert ContactField.objects.get().type == type_


def test_the_old_label_and_value_type_spelling_is_read(rapidpro):
    response = rapidpro.post(URL, {"label": "Age", "value_type": "numeric"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == _field("age", "Age", "number", "numeric")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"non_field_errors": ["Field 'name' is required."]}),
        ({"name": "goats"}, {"non_field_errors": ["Field 'type' is required."]}),
        (
            {"name": "!@#$%", "type": "video"},
            {"name": ["Can only contain letters, numbers and hypens."], "type": ['"video" is not a valid choice.']},
        ),
        ({"name": "!@#$%", "type": "text"}, {"name": ["Can only contain letters, numbers and hypens."]}),
        ({"name": "nick_name", "type": "text"}, {"name": ["Can only contain letters, numbers and hypens."]}),
        ({"label": "!@#$%", "value_type": "text"}, {"label": ["Can only contain letters, numbers and hypens."]}),
        ({"name": "HAS", "type": "text"}, {"name": ['Generated key "has" is invalid or a reserved name.']}),
        (
            {"name": "Created On", "type": "text"},
            {"name": ['Generated key "created_on" is invalid or a reserved name.']},
        ),
        ({"name": "1st Name", "type": "text"}, {"name": ['Generated key "1st_name" is invalid or a reserved name.']}),
        ({"name": "x" * 37, "type": "text"}, {"name": ["Ensure this field has no more than 36 characters."]}),
        ({"name": None, "type": "text"}, {"name": ["This field may not be null."]}),
        ({"name": ["x"], "type": "text"}, {"name": ["Not a valid string."]}),
        ({"name": "nick NAME", "type": "text"}, {"name": ["This field must be unique."]}),
        ({"label": "Nick-Name", "value_type": "text"}, {"label": ["This field must be unique."]}),
        ({"name": "Age", "value_type": "number"}, {"value_type": ['"number" is not a valid choice.']}),
        (
            {"label": "!@#$%", "value_type": "video"},
            {
                "label": ["Can only contain letters, numbers and hypens."],
                "value_type": ['"video" is not a valid choice.'],
            },
        ),
    ],
)
def test_create_errors(rapidpro, body, errors):
    ContactField.objects.create(client=rapidpro.tenant, key="nick_name", name="Nick Name")
    assert _error(rapidpro.post(URL, body, format="json")) == errors
    assert ContactField.objects.count() == 1


def test_another_clients_field_is_no_clash_and_36_characters_are_fine(rapidpro):
    ContactField.objects.create(client=ClientFactory(), key="nick_name", name="Nick Name")
    assert rapidpro.post(URL, {"name": "Nick Name", "type": "text"}, format="json").status_code == 201
    assert rapidpro.post(URL, {"name": "x" * 36, "type": "text"}, format="json").status_code == 201


def test_update_by_key_renames_and_retypes_but_keeps_the_key(rapidpro):
    ContactField.objects.create(client=rapidpro.tenant, key="age", name="Age", type="number")
    ContactField.objects.create(client=rapidpro.tenant, key="team", name="Team")
    response = rapidpro.post(f"{URL}?key=age", {"name": "Real Age", "type": "datetime"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == _field("age", "Real Age", "datetime")
    field = ContactField.objects.get(key="age")
    assert (field.name, field.type) == ("Real Age", "datetime")
    assert rapidpro.post(f"{URL}?key=age", {"name": "REAL age", "type": "text"}, format="json").status_code == 200
    response = rapidpro.post(f"{URL}?key=age", {"name": "team", "type": "text"}, format="json")
    assert _error(response) == {"name": ["This field must be unique."]}
    assert _error(rapidpro.post(f"{URL}?key=age", {"name": "Age"}, format="json")) == {
        "non_field_errors": ["Field 'type' is required."]
    }


def test_update_of_an_unknown_or_another_clients_key_is_a_404(rapidpro):
    ContactField.objects.create(client=ClientFactory(), key="not_ours", name="Not ours")
    for key in ("not_ours", "nope"):
        response = rapidpro.post(f"{URL}?key={key}", {"name": "Something", "type": "text"}, format="json")
        assert _error(response, 404) == {"detail": "Not found."}
    assert ContactField.objects.get(key="not_ours").name == "Not ours"


def test_a_body_that_is_not_an_object(rapidpro):
    response = rapidpro.post(URL, "x", format="json")
    assert _error(response) == {"non_field_errors": ["Request body should be a single JSON object"]}


def test_a_created_field_is_listed_on_contacts(rapidpro):
    rapidpro.post(URL, {"name": "Nick name", "type": "text"}, format="json")
    response = rapidpro.post("/api/v2/contacts.json", {"urns": ["tel:+256772123456"]}, format="json")
    assert response.json()["fields"] == {"nick_name": None}


def test_field_writes_need_the_contacts_scope_and_reads_read(make_rapidpro):
    reader = make_rapidpro(scopes=["read"])
    assert _error(reader.post(URL, {"name": "Age", "type": "text"}, format="json"), 403) == FORBIDDEN
    assert not ContactField.objects.exists()
    writer = make_rapidpro(scopes=["contacts"])
    assert _error(writer.get(URL), 403) == FORBIDDEN
