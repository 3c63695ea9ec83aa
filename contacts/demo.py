"""Demo contacts and lists for `seed_demo` (dashboard). Idempotent: a second run creates nothing."""

from __future__ import annotations

from typing import NamedTuple

from accounts.models import Client

from .models import Contact, ContactList
from .selectors import contacts_by_phones
from .services import contact_create, contact_list_add_contacts, contact_list_get_or_create

# (phone, first name, last name, language, fields). All valid numbers; the US ones are in 555-01xx,
# the range reserved for fiction.
DEMO_CONTACTS: tuple[tuple[str, str, str, str | None, dict[str, str]], ...] = (
    ("+256772000101", "Amina", "Nakato", "eng", {"param1": "Kampala", "param2": "gold"}),
    ("+256772000102", "Joseph", "Okello", "eng", {"param1": "Gulu", "param2": "silver"}),
    ("+256782000103", "Grace", "Namutebi", "eng", {"param1": "Entebbe"}),
    ("+256702000104", "Isaac", "Mugisha", "eng", {}),
    ("+256752000105", "Sarah", "Achieng", None, {"param1": "Jinja"}),
    ("+254712000101", "Wanjiru", "Kamau", "eng", {"param1": "Nairobi", "param2": "gold"}),
    ("+254722000102", "Otieno", "Odhiambo", "eng", {"param1": "Kisumu"}),
    ("+254733000103", "Achieng", "Atieno", "eng", {}),
    ("+254701000104", "Kiprop", "Cheruiyot", None, {"param1": "Eldoret"}),
    ("+254711000105", "Fatuma", "Ali", "eng", {"param1": "Mombasa", "param2": "bronze"}),
    ("+33612000101", "Hélène", "Dupont", "fra", {"param1": "Paris", "param2": "gold"}),
    ("+33612000102", "Pierre", "Martin", "fra", {"param1": "Lyon"}),
    ("+33756000103", "Zoë", "Bernard", "fra", {}),
    ("+33612000104", "Lucas", "Petit", "fra", {"param1": "Marseille", "param2": "silver"}),
    ("+33612000105", "Camille", "Durand", "eng", {"param1": "Lille"}),
    ("+12025550101", "Mary", "Smith", "eng", {"param1": "Washington", "param2": "gold"}),
    ("+12025550102", "James", "Johnson", "eng", {"param1": "Washington"}),
    ("+14155550103", "Linda", "Brown", "eng", {"param1": "San Francisco"}),
    ("+14155550104", "Carlos", "García", "eng", {}),
    ("+12125550105", "Emily", "Davis", None, {"param1": "New York", "param2": "bronze"}),
)
ALL_LIST = "Demo customers"
VIP_LIST = "Demo VIP"


class DemoContacts(NamedTuple):
    contacts: list[Contact]
    lists: list[ContactList]


def seed_demo_contacts(*, client: Client) -> DemoContacts:
    """About twenty contacts (Uganda, Kenya, France, US) and two lists: everyone, and the gold tier."""
    existing = contacts_by_phones(client=client, phones=[row[0] for row in DEMO_CONTACTS])
    contacts = []
    for phone, first_name, last_name, language, fields in DEMO_CONTACTS:
        contact = existing.get(phone) or contact_create(
            client=client,
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            language=language,
            fields=fields,
        )
        contacts.append(contact)
    everyone = contact_list_get_or_create(client=client, name=ALL_LIST)
    vip = contact_list_get_or_create(client=client, name=VIP_LIST)
    contact_list_add_contacts(contact_list=everyone, contact_ids=[c.pk for c in contacts])
    contact_list_add_contacts(
        contact_list=vip, contact_ids=[c.pk for c in contacts if c.fields.get("param2") == "gold"]
    )
    return DemoContacts(contacts=contacts, lists=[everyone, vip])
