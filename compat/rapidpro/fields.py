"""RapidPro v2 `fields.json` (COMPAT.md §2.4): the client's registry of contact fields — list
(`?key=`), create (its key made from the name), update by `?key=`. The registry's rules are the
contacts app's; this module words its refusals as RapidPro's ContactFieldWriteSerializer does."""

from __future__ import annotations

from typing import Any, Final

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Scope
from contacts.models import ContactField, ContactFieldType
from contacts.selectors import contact_field_queryset
from contacts.services import contact_field_clean, contact_field_create, contact_field_update
from contacts.services.fields import (
    DUPLICATE_FIELD,
    FIELD_NAME_TOO_LONG,
    INVALID_FIELD_KEY,
    INVALID_FIELD_NAME,
)
from contacts.validation import MAX_FIELD_NAME, make_field_key

from .base import NON_FIELD, RapidProView, json_object, one_lookup

# RapidPro's older spelling of the types (`value_type`), read and written alongside `type`.
VALUE_TYPES: Final = {ContactFieldType.NUMBER.value: "numeric"}
FROM_VALUE_TYPE: Final = {"numeric": ContactFieldType.NUMBER.value}


def render_field(field: ContactField) -> dict[str, Any]:
    return {
        "key": field.key,
        "name": field.name,
        "type": field.type,
        "featured": False,
        "priority": 0,
        "usages": {"flows": 0, "groups": 0, "campaign_events": 0},
        "agent_access": "view",
        "label": field.name,
        "value_type": VALUE_TYPES.get(field.type, field.type),
    }


def _name_problem(value: object) -> str | None:
    """What DRF's CharField(max_length=36) says before the registry looks at the name."""
    if value is None:
        return "This field may not be null."
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "Not a valid string."
    text = str(value).strip()
    if not text:
        return "This field may not be blank."
    if len(text) > MAX_FIELD_NAME:
        return f"Ensure this field has no more than {MAX_FIELD_NAME} characters."
    return None


class FieldsView(RapidProView):
    write_scope = Scope.CONTACTS.value
    ordering = ("-created_at", "-id")

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = contact_field_queryset(client=self.client)
        if request.query_params.get("key"):
            queryset = queryset.filter(key=request.query_params["key"])
        return self.paginate(queryset, render_field)

    def _read(self, body: Any, field: ContactField | None) -> tuple[str, str]:
        """(name, type) as RapidPro's ContactFieldWriteSerializer reads them: each bad value named
        under the key it came by (`name`/`label`, `type`/`value_type`), then the missing ones."""
        errors: dict[str, list[str]] = {}
        for key in ("name", "label"):
            if key in body and (problem := _name_problem(body[key])):
                errors[key] = [problem]
        choices = {"type": ContactFieldType.values, "value_type": [VALUE_TYPES.get(v, v) for v in ContactFieldType]}
        for key, allowed in choices.items():
            if key in body and body[key] not in allowed:
                errors[key] = [f'"{body[key]}" is not a valid choice.']
        name_key = "name" if "name" in body else "label"
        name = body.get(name_key)
        if name and name_key not in errors:
            try:  # the registry's own rules on the name (pattern, key, uniqueness)
                contact_field_clean(client=self.client, name=str(name).strip(), type="text", field=field)
            except DjangoValidationError as exc:
                errors.update(_translate(exc, str(name).strip(), name_key))
        if errors:
            raise exceptions.ValidationError(errors)
        type_ = body.get("type") or body.get("value_type")
        if not name:
            raise exceptions.ValidationError({NON_FIELD: ["Field 'name' is required."]})
        if not type_:
            raise exceptions.ValidationError({NON_FIELD: ["Field 'type' is required."]})
        return str(name).strip(), FROM_VALUE_TYPE.get(type_, type_)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = json_object(request.data)
        field = None
        if one_lookup(request, ("key",), required=False) is not None:
            field = contact_field_queryset(client=self.client).filter(key=request.query_params["key"]).first()
            if field is None:
                raise exceptions.NotFound()
        name, type_ = self._read(body, field)
        try:
            if field is not None:
                return Response(render_field(contact_field_update(field=field, name=name, type=type_)))
            return Response(render_field(contact_field_create(client=self.client, name=name, type=type_)), status=201)
        except DjangoValidationError as exc:  # a concurrent create of the same name won
            raise exceptions.ValidationError(_translate(exc, name, "name")) from None


def _translate(exc: DjangoValidationError, name: str, name_key: str) -> dict[str, list[str]]:
    words = {
        INVALID_FIELD_NAME: "Can only contain letters, numbers and hypens.",  # sic: RapidPro's spelling
        FIELD_NAME_TOO_LONG: f"Ensure this field has no more than {MAX_FIELD_NAME} characters.",
        INVALID_FIELD_KEY: f'Generated key "{make_field_key(name)}" is invalid or a reserved name.',
        DUPLICATE_FIELD: "This field must be unique.",
    }
    errors: dict[str, list[str]] = {}
    for field, problems in exc.error_dict.items():
        key = name_key if field == "name" else field
        errors[key] = [words.get(str(p.code), " ".join(p.messages)) for p in problems[:1]]
    return errors
