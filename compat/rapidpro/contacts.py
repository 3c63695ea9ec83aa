"""RapidPro v2 `contacts.json` (COMPAT.md §2.4): list (also deleted contacts, from their
tombstones), create, update by `?uuid=`/`?urn=` (an unknown `?urn=` creates), delete. The body is
checked as RapidPro's ContactWriteSerializer checks it, with its words; then the contacts
services do the work, so a contact written here is the same contact in the native API."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.exceptions import ConflictError
from accounts.models import Scope
from contacts.models import Contact
from contacts.phones import Urn
from contacts.selectors import contact_list_find, contact_queryset
from contacts.selectors import contact_tombstone_queryset as tombstones
from contacts.services import contact_create, contact_delete, contact_fields_register, contact_update
from contacts.validation import MAX_FIELD_VALUE, is_usable_field_key, normalize_language

from .base import (
    MAX_ITEMS,
    BadQuery,
    RapidProPagination,
    RapidProView,
    before_after,
    json_object,
    list_value,
    one_lookup,
    str_to_bool,
    uuid_param,
)
from .contact_values import (
    Addresses,
    RapidProUrnError,
    contact_document,
    contact_documents,
    contact_status,
    find_contact,
    group_by_ref,
    parse_rapidpro_urn,
    parse_urn_list,
    render_deleted,
    split_name,
)

MAX_NAME: Final = 64
JSON: Final = "application/json"
IN_USE: Final = "URN is in use by another contact."
NEEDS_URN: Final = "Herald needs a tel:, whatsapp: or telegram: URN for each contact."
NOT_STRING: Final = "Not a valid string."
T = TypeVar("T")


def page(
    view: RapidProView, queryset: Any, ordering: tuple[str, ...], render: Callable[[list[Any]], list[Any]]
) -> Response:
    """A RapidPro page whose items are rendered together (a fixed number of queries a page)."""
    paginator = RapidProPagination()
    paginator.ordering = ordering
    items: list[Any] = paginator.paginate_queryset(queryset, view.request, view=view) or []
    return paginator.get_paginated_response(render(items))


def page_documents(view: RapidProView, queryset: Any, ordering: tuple[str, ...]) -> HttpResponse:
    """A RapidPro page of rows whose `document` is an item's JSON text, already rendered by the
    database: the page is written around those texts, not decoded and encoded again."""
    paginator = RapidProPagination()
    paginator.ordering = ordering
    with transaction.atomic(), connection.cursor() as cursor:
        # A page reads 251 rows: starting parallel workers (about 6 ms here) costs more than they
        # save, on every page (measured with bench/bench_compat.py, issue 20).
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        items: list[dict[str, Any]] = paginator.paginate_queryset(queryset, view.request, view=view) or []
    links = {"next": paginator.get_next_link(), "previous": paginator.get_previous_link()}
    head = json.dumps(links)[:-1]  # the links object, left open for `results`
    return HttpResponse(f'{head}, "results": [{",".join(item["document"] for item in items)}]}}', content_type=JSON)


def _text(value: object) -> str:
    """A value as DRF's CharField reads it (trimmed; numbers as their text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(NOT_STRING)
    text = str(value).strip()
    if "\x00" in text:
        raise ValueError("Null characters are not allowed.")
    return text


def _list(value: object) -> list[Any]:
    if value is None:
        raise ValueError("This field may not be null.")
    return list_value(value)


class ContactBody:
    """A contacts.json body read into the contacts services' terms, every error RapidPro would
    name collected before anything is written."""

    def __init__(self, body: Mapping[str, Any], *, view: ContactsView, contact: Contact | None, urn_in_url: bool):
        self.client = view.client
        self.data: dict[str, Any] = {}
        self.errors: dict[str, Any] = {}
        self.addresses = Addresses()
        self.new_keys: list[str] = []
        for name, check in (
            ("name", self._name),
            ("language", self._language),
            ("urns", lambda v: self._urns(v, urn_in_url)),
            ("groups", lambda v: self._groups(v, contact)),
            ("fields", self._fields),
        ):
            if name in body:
                try:
                    check(body[name])
                except ValueError as exc:
                    self.errors[name] = [str(exc)]
        # `note`: Herald keeps no notes; accepted and ignored.

    def _name(self, value: object) -> None:
        text = None if value is None else _text(value)
        if text == "":
            raise ValueError("This field may not be blank.")
        if text is not None and len(text) > MAX_NAME:
            raise ValueError(f"Ensure this field has no more than {MAX_NAME} characters.")
        self.data["first_name"], self.data["last_name"] = split_name(text)

    def _language(self, value: object) -> None:
        if value is None:
            self.data["language"] = None
            return
        text = _text(value)
        if text == "":
            raise ValueError("This field may not be blank.")
        if len(text) < 3:
            raise ValueError("Ensure this field has at least 3 characters.")
        if len(text) > 3:
            raise ValueError("Ensure this field has no more than 3 characters.")
        try:
            if normalize_language(text) != text.lower():
                raise ValueError
        except ValueError:
            raise ValueError("Not a valid ISO639-3 language code.") from None
        self.data["language"] = text.lower()

    def _urns(self, value: object, urn_in_url: bool) -> None:
        urns = _list(value)
        if urn_in_url:
            raise ValueError("Field not allowed when using URN in URL")
        self.addresses = parse_urn_list(urns, client=self.client)
        if self.addresses.errors:
            self.errors["urns"] = self.addresses.errors
            return
        self.data.update(self.addresses.contact_data())

    def _groups(self, value: object, contact: Contact | None) -> None:
        ids = [group_by_ref(client=self.client, ref=ref).pk for ref in _list(value)]
        if contact is not None and ids and contact_status(contact) != "active":
            raise ValueError("Non-active contacts can't be added to groups")
        self.data["lists"] = ids

    def _fields(self, value: object) -> None:
        if not isinstance(value, Mapping):
            raise ValueError(f'Expected a dictionary of items but got type "{type(value).__name__}".')
        if len(value) > MAX_ITEMS:
            raise ValueError(f"Ensure this field has no more than {MAX_ITEMS} elements.")
        values: dict[str, str | None] = {}
        bad: dict[str, list[str]] = {}
        for key, raw in value.items():
            try:
                text = None if raw is None else _text(raw)
            except ValueError as exc:
                bad[str(key)] = [str(exc)]
                continue
            if text is not None and len(text) > MAX_FIELD_VALUE:
                bad[str(key)] = [f"Ensure this field has no more than {MAX_FIELD_VALUE} characters."]
                continue
            values[str(key)] = text or None  # "" removes the value, as null does
        if bad:
            self.errors["fields"] = bad
            return
        for key in values:
            # A registered key, or one Herald can register (RapidPro refuses keys it does not know).
            if not is_usable_field_key(key):
                raise ValueError(f"Invalid contact field key: {key}")
        self.new_keys = [key for key, text in values.items() if text is not None]
        self.data["fields"] = values

    def check(self) -> None:
        if self.errors:
            raise exceptions.ValidationError(self.errors)

    def write(self, action: Callable[[], T]) -> T:
        """Run the service, translating its refusals into RapidPro's words about `urns`."""
        try:
            with transaction.atomic():
                contact_fields_register(client=self.client, keys=self.new_keys)
                return action()
        except ConflictError as exc:
            which = "telegram_chat_id" if exc.code == "duplicate_telegram_chat_id" else "phone"
            if exc.code not in ("duplicate_phone", "duplicate_telegram_chat_id"):
                raise
            index = self.addresses.index.get(which)
            raise exceptions.ValidationError(
                {"urns": {str(index): [IN_USE]} if index is not None else [IN_USE]}
            ) from None
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(self._translate(exc)) from None

    def _translate(self, exc: DjangoValidationError) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        by_field = exc.error_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.error_list}
        for name, problems in by_field.items():
            messages = [m for p in problems for m in p.messages]
            if name in ("phone", "telegram_chat_id"):
                required = any(p.code == "required" for p in problems)
                errors.setdefault("urns", []).extend([NEEDS_URN] if required else messages)
            elif name.startswith("fields."):
                errors.setdefault("fields", {})[name.removeprefix("fields.")] = messages
            elif name in ("first_name", "last_name"):
                errors.setdefault("name", []).extend(messages)
            else:
                errors.setdefault("groups" if name == "lists" else name, []).extend(messages)
        return errors


class ContactsView(RapidProView):
    write_scope = Scope.CONTACTS.value

    def _urn_param(self, value: str) -> Urn | None:
        """An `?urn=` value: its address, or None for a scheme Herald lacks (no contact has it)."""
        try:
            return parse_rapidpro_urn(value, self.client.country)
        except RapidProUrnError as problem:
            if problem.unsupported:
                return None
            raise BadQuery(f"Invalid URN: {value}") from None

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        params = request.query_params
        backwards = str_to_bool(params.get("reverse"))
        contact_id = uuid_param(request, "uuid")
        urn = params.get("urn")
        address = self._urn_param(urn) if urn else None
        group_ref = params.get("group")
        if str_to_bool(params.get("deleted")):
            deleted = tombstones(client=self.client)
            if contact_id is not None:
                deleted = deleted.filter(contact_id=contact_id)
            if urn or group_ref:
                deleted = deleted.none()  # a deleted contact keeps no URNs and no groups
            deleted = before_after(request, deleted, "deleted_at")
            order = ("deleted_at", "id") if backwards else ("-deleted_at", "-id")
            return page(self, deleted, order, lambda items: [render_deleted(t) for t in items])
        queryset = contact_queryset(client=self.client)
        if contact_id is not None:
            queryset = queryset.filter(pk=contact_id)
        if urn and address is None:  # a scheme Herald lacks: no contact has it
            queryset = queryset.none()
        elif address is not None:
            field = "telegram_chat_id" if address.scheme == "telegram" else "phone"
            queryset = queryset.filter(**{field: address.path})
        if group_ref:
            group = contact_list_find(client=self.client, ref=group_ref, ignore_case=False)
            queryset = queryset.filter(lists=group) if group is not None else queryset.none()
        queryset = before_after(request, queryset, "updated_at")
        order = ("updated_at", "id") if backwards else ("-updated_at", "-id")
        return page_documents(self, contact_documents(queryset, client=self.client), order)

    def _lookup(self, request: Request, *, required: bool) -> tuple[str | None, Contact | None, Urn | None]:
        """(param, contact or None, the `?urn=` address) of a write or delete."""
        lookup = one_lookup(request, ("urn", "uuid"), required=required)
        if lookup is None:
            return None, None, None
        name, value = lookup
        if name == "uuid":
            contact_id = uuid_param(request, "uuid")
            return name, find_contact(client=self.client, ref=contact_id), None
        address = self._urn_param(value)
        contact = find_contact(client=self.client, ref=value) if address is not None else None
        return name, contact, address

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = json_object(request.data)
        param, contact, address = self._lookup(request, required=False)
        if param == "uuid" and contact is None:
            raise exceptions.NotFound()
        if param == "urn" and address is None:  # a scheme Herald lacks: it cannot create that contact
            try:
                parse_rapidpro_urn(request.query_params["urn"], self.client.country)
            except RapidProUrnError as problem:
                raise BadQuery(problem.message) from None
        write = ContactBody(body, view=self, contact=contact, urn_in_url=param == "urn")
        write.check()
        if contact is not None:
            updated = write.write(lambda: contact_update(contact=contact, data=write.data))
            return Response(contact_document(updated))
        data = dict(write.data)
        if param == "urn":  # an unknown `?urn=` creates the contact with that URN
            write.addresses = parse_urn_list([request.query_params["urn"]], client=self.client)
            data.update(write.addresses.contact_data())
        data["fields"] = {k: v for k, v in data.get("fields", {}).items() if v is not None}
        created = write.write(lambda: contact_create(client=self.client, **data))
        return Response(contact_document(created), status=201)

    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _, contact, _ = self._lookup(request, required=True)
        if contact is None:
            raise exceptions.NotFound()
        contact_delete(contact=contact)
        return Response(status=204)
