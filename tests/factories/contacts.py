from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from contacts.models import Contact, ContactImport, ContactList, ContactListMembership
from tests.factories.accounts import ClientFactory


class ContactFactory(DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    client = factory.SubFactory(ClientFactory)
    # Valid Ugandan mobile numbers (+256 77x xxx xxx), one per contact.
    phone = factory.Sequence(lambda n: f"+25677{n % 10_000_000:07d}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Contact"


class ContactListFactory(DjangoModelFactory[ContactList]):
    class Meta:
        model = ContactList

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"List {n}")


def add_members(contact_list: ContactList, *contacts: Contact) -> None:
    """Memberships with the list's count kept right, as the services keep it."""
    ContactListMembership.objects.bulk_create(
        [ContactListMembership(contact_list=contact_list, contact=c) for c in contacts]
    )
    contact_list.contact_count += len(contacts)
    contact_list.save(update_fields=["contact_count"])


class ContactImportFactory(DjangoModelFactory[ContactImport]):
    class Meta:
        model = ContactImport

    client = factory.SubFactory(ClientFactory)
    file_format = ContactImport.Format.CSV
