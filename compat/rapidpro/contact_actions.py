"""RapidPro v2 `contact_actions.json` (COMPAT.md §2.4): one action on up to 100 contacts → 204.

`add`/`remove` change a list's members, `block` is an opt-out of source `block`, `unblock` an
opt-in, `delete` deletes (leaving tombstones); `interrupt`, `archive_messages` and `archive` have
nothing to act on in Herald (no flows, no inbox) and are accepted."""

from __future__ import annotations

from typing import Any, Final

from django.db import transaction
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Scope
from contacts.models import Contact, ContactList, OptOutSource
from contacts.services import (
    contact_delete,
    contact_list_add_contacts,
    contact_list_remove_contacts,
    contact_opt_in,
    contact_opt_out,
)

from .base import NON_FIELD, RapidProView, json_object
from .contact_values import contact_status, contacts_by_refs, group_by_ref, ref_values

ACTIONS: Final = ("add", "remove", "block", "unblock", "interrupt", "archive_messages", "delete", "archive")
WITH_GROUP: Final = ("add", "remove")


class ContactActionsView(RapidProView):
    write_scope = Scope.CONTACTS.value

    def _contacts(self, body: Any) -> list[Contact]:
        if "contacts" not in body:
            raise ValueError("This field is required.")
        refs = body["contacts"]
        if refs is None:
            raise ValueError("This field may not be null.")
        contacts: dict[Any, Contact] = {}
        for contact in contacts_by_refs(client=self.client, refs=ref_values(refs)):
            contacts.setdefault(contact.pk, contact)
        if not contacts:
            raise ValueError("Contacts can't be empty.")
        return list(contacts.values())

    def _group(self, body: Any) -> ContactList | None:
        if "group" not in body:
            return None
        ref = body["group"]
        if ref is None or ref == "":  # DRF's related fields read "" as null
            raise ValueError("This field may not be null.")
        return group_by_ref(client=self.client, ref=ref)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = json_object(request.data)
        errors: dict[str, list[str]] = {}
        contacts: list[Contact] = []
        group: ContactList | None = None
        try:
            contacts = self._contacts(body)
        except ValueError as exc:
            errors["contacts"] = [str(exc)]
        action = body.get("action")
        if "action" not in body:
            errors["action"] = ["This field is required."]
        elif not isinstance(action, str) or action not in ACTIONS:
            errors["action"] = [f'"{action}" is not a valid choice.']
        try:
            group = self._group(body)
        except ValueError as exc:
            errors["group"] = [str(exc)]
        if errors:
            raise exceptions.ValidationError(errors)
        if action in WITH_GROUP and group is None:
            raise exceptions.ValidationError({NON_FIELD: [f'For action "{action}" you should also specify a group']})
        if action not in WITH_GROUP and group is not None:
            raise exceptions.ValidationError({NON_FIELD: [f'For action "{action}" you should not specify a group']})
        if action == "add":
            inactive = [str(c.pk) for c in contacts if contact_status(c) != "active"]
            if inactive:
                message = f"Non-active contacts cannot be added to groups: {', '.join(inactive)}"
                raise exceptions.ValidationError({NON_FIELD: [message]})
        self._act(str(action), contacts, group)
        return Response(status=204)

    def _act(self, action: str, contacts: list[Contact], group: ContactList | None) -> None:
        ids = [contact.pk for contact in contacts]
        with transaction.atomic():
            if action == "add" and group is not None:
                contact_list_add_contacts(contact_list=group, contact_ids=ids)
            elif action == "remove" and group is not None:
                contact_list_remove_contacts(contact_list=group, contact_ids=ids)
            elif action == "block":
                for contact in contacts:
                    contact_opt_out(contact=contact, source=OptOutSource.BLOCK)
            elif action == "unblock":
                for contact in contacts:
                    contact_opt_in(contact=contact, source=OptOutSource.BLOCK)
            elif action == "delete":
                for contact in contacts:
                    contact_delete(contact=contact)
            # interrupt, archive_messages, archive: nothing in Herald to act on
