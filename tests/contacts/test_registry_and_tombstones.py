"""What the contacts app gained for the RapidPro API (SPEC §14): the per-client registry of custom
fields, deleted-contact tombstones written by every delete, the `block` opt-out source, and the
URN schemes a contact's phone is reachable on."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from contacts.models import Contact, ContactField, ContactTombstone, OptOutSource
from contacts.services import (
    contact_create,
    contact_delete,
    contact_field_clean,
    contact_field_create,
    contact_field_update,
    contact_fields_register,
    contact_opt_in,
    contact_opt_out,
    contact_update,
)
from contacts.services.fields import (
    DUPLICATE_FIELD,
    FIELD_NAME_TOO_LONG,
    INVALID_FIELD_KEY,
    INVALID_FIELD_NAME,
    INVALID_FIELD_TYPE,
)
from contacts.validation import is_usable_field_key, make_field_key
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db


# --- tombstones ---------------------------------------------------------------------------------------


def test_contact_delete_leaves_a_tombstone(tenant):
    contact = ContactFactory(client=tenant)
    contact_delete(contact=contact)
    tombstone = ContactTombstone.objects.get()
    assert (tombstone.client, tombstone.contact_id, tombstone.contact_created_at) == (
        tenant,
        contact.pk,
        contact.created_at,
    )
    assert tombstone.deleted_at >= contact.created_at
    contact_delete(contact=contact)  # gone already: nothing more
    assert ContactTombstone.objects.count() == 1


def test_the_native_api_delete_leaves_a_tombstone_too(api):
    contact = ContactFactory(client=api.tenant)
    assert api.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    assert ContactTombstone.objects.filter(client=api.tenant, contact_id=contact.pk).exists()


def test_tombstones_go_with_their_client(tenant):
    contact_delete(contact=ContactFactory(client=tenant))
    tenant.delete()
    assert not ContactTombstone.objects.exists()


# --- the field registry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [("Nick name", "nick_name"), ("AGE", "age"), (" a--b ", "a_b"), ("Été", "t"), ("1st", "1st"), ("", "")],
)
def test_make_field_key(name, key):
    assert make_field_key(name) == key


@pytest.mark.parametrize(
    ("key", "usable"),
    [
        ("nickname", True),
        ("a" * 36, True),
        ("a" * 37, False),
        ("has", False),
        ("is", False),
        ("urns", False),
        ("fields", False),
        ("created_on", False),
        ("last_seen_on", False),
        ("1st", False),
        ("Nick", False),
    ],
)
def test_is_usable_field_key(key, usable):
    assert is_usable_field_key(key) is usable


def test_contact_field_create(tenant):
    field = contact_field_create(client=tenant, name="Nick name", type="text")
    assert (field.client, field.key, field.name, field.type) == (tenant, "nick_name", "Nick name", "text")


def _codes(exc: ValidationError) -> dict[str, list[str]]:
    return {name: [str(e.code) for e in errors] for name, errors in exc.error_dict.items()}


@pytest.mark.parametrize(
    ("name", "type_", "codes"),
    [
        ("Nick_name", "text", {"name": [INVALID_FIELD_NAME]}),
        (" Nick", "text", {"name": [INVALID_FIELD_NAME]}),
        ("", "text", {"name": [INVALID_FIELD_NAME]}),
        (None, "text", {"name": [INVALID_FIELD_NAME]}),
        ("x" * 37, "text", {"name": [FIELD_NAME_TOO_LONG]}),
        ("Is", "text", {"name": [INVALID_FIELD_KEY]}),
        ("nick NAME", "text", {"name": [DUPLICATE_FIELD]}),
        ("Nick-Name", "text", {"name": [DUPLICATE_FIELD]}),  # another name, the same key
        ("Age", "numeric", {"type": [INVALID_FIELD_TYPE]}),
        ("Is", "video", {"name": [INVALID_FIELD_KEY], "type": [INVALID_FIELD_TYPE]}),
    ],
)
def test_contact_field_create_refuses(tenant, name, type_, codes):
    contact_field_create(client=tenant, name="Nick Name", type="text")
    with pytest.raises(ValidationError) as caught:
        contact_field_create(client=tenant, name=name, type=type_)
    assert _codes(caught.value) == codes
    with pytest.raises(ValidationError):
        contact_field_clean(client=tenant, name=name, type=type_)
    assert ContactField.objects.count() == 1


def test_another_clients_names_are_no_clash(tenant):
    contact_field_create(client=ClientFactory(), name="Age", type="text")
    assert contact_field_create(client=tenant, name="Age", type="number").key == "age"


def test_contact_field_update_keeps_the_key(tenant):
    field = contact_field_create(client=tenant, name="Age", type="number")
    contact_field_create(client=tenant, name="Team", type="text")
    contact_field_update(field=field, name="Years Old", type="text")
    field.refresh_from_db()
    assert (field.key, field.name, field.type) == ("age", "Years Old", "text")
    contact_field_update(field=field, name="YEARS old", type="text")  # its own name: no clash
    with pytest.raises(ValidationError) as caught:
        contact_field_update(field=field, name="team", type="text")
    assert _codes(caught.value) == {"name": [DUPLICATE_FIELD]}


def test_contact_fields_register_adds_missing_keys_once(tenant):
    contact_field_create(client=tenant, name="Age", type="number")
    contact_fields_register(client=tenant, keys=["age", "nick_name", "nick_name", "team_2"])
    contact_fields_register(client=tenant, keys=["team_2"])
    registry = {f.key: (f.name, f.type) for f in ContactField.objects.filter(client=tenant)}
    assert registry == {"age": ("Age", "number"), "nick_name": ("Nick Name", "text"), "team_2": ("Team 2", "text")}


def test_contact_fields_register_refuses_unusable_keys(tenant):
    with pytest.raises(ValueError, match="has"):
        contact_fields_register(client=tenant, keys=["ok", "has"])
    assert not ContactField.objects.exists()


# --- block, and URN schemes --------------------------------------------------------------------------------


def test_block_is_an_opt_out_source_and_blocked_says_so(tenant):
    contact = ContactFactory(client=tenant)
    assert contact.blocked is False
    contact_opt_out(contact=contact, source=OptOutSource.BLOCK)
    contact.refresh_from_db()
    assert (contact.opted_out, contact.opted_out_source, contact.blocked) == (True, "block", True)
    contact_opt_in(contact=contact, source=OptOutSource.BLOCK)
    contact.refresh_from_db()
    assert (contact.opted_out, contact.blocked) == (False, False)
    stopped = contact_opt_out(contact=ContactFactory(client=tenant), source=OptOutSource.KEYWORD)
    assert stopped.blocked is False


def test_urn_schemes_are_stored_and_kept_by_other_updates(tenant):
    contact = contact_create(client=tenant, phone="+256772123456", urn_schemes=["whatsapp", "tel", "whatsapp"])
    assert contact.urn_schemes == ["whatsapp", "tel"]
    contact_update(contact=contact, data={"first_name": "Jo"})
    contact.refresh_from_db()
    assert contact.urn_schemes == ["whatsapp", "tel"]
    contact_update(contact=contact, data={"urn_schemes": ["tel"]})
    contact.refresh_from_db()
    assert contact.urn_schemes == ["tel"]


@pytest.mark.parametrize("schemes", [["telegram"], ["sms"], "tel"])
def test_urn_schemes_are_tel_and_whatsapp_only(tenant, schemes):
    with pytest.raises(ValidationError) as caught:
        contact_create(client=tenant, phone="+256772123456", urn_schemes=schemes)
    assert "urn_schemes" in caught.value.error_dict
    assert not Contact.objects.exists()


def test_contacts_made_elsewhere_have_no_schemes(tenant, api):
    assert ContactFactory(client=tenant).urn_schemes == []
    response = api.post("/api/v1/contacts/", {"phone": "whatsapp:+256772123456"}, format="json")
    assert response.status_code == 201
    assert "urn_schemes" not in response.json()  # the native shape is unchanged
    assert Contact.objects.get(pk=response.json()["id"]).urn_schemes == []
