"""RapidPro v2 `groups.json` (COMPAT.md §2.4): Herald's contact lists as RapidPro's static groups —
list, create, rename by `?uuid=`, delete by `?uuid=`."""

from __future__ import annotations

from typing import Any, Final

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Scope
from contacts.models import ContactList
from contacts.selectors import contact_list_name_taken, contact_list_queryset
from contacts.services import contact_list_create, contact_list_delete, contact_list_update

from .base import BadQuery, RapidProView, json_object, one_lookup, uuid_param

MAX_NAME: Final = 64
EXCLUSIVE: Final = ("uuid", "name")
FORBIDDEN: Final = '"\\'  # RapidPro's NameValidator


def render_group(group: ContactList) -> dict[str, Any]:
    return {
        "uuid": str(group.pk),
        "name": group.name,
        "query": None,  # Herald's lists are static
        "status": "ready",
        "system": False,
        "count": int(group.contact_count),
    }


class GroupsView(RapidProView):
    write_scope = Scope.CONTACTS.value
    ordering = ("-created_at", "-id")

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = request.query_params
        if sum(1 for name in EXCLUSIVE if params.get(name)) > 1:
            raise BadQuery(f"You may only specify one of the {', '.join(EXCLUSIVE)} parameters")
        queryset = contact_list_queryset(client=self.client)
        group_id = uuid_param(request, "uuid")
        if group_id is not None:
            queryset = queryset.filter(pk=group_id)
        if params.get("name"):
            queryset = queryset.filter(name__iexact=params["name"])
        return self.paginate(queryset, render_group)

    def _group(self, request: Request, *, required: bool) -> ContactList | None:
        if one_lookup(request, ("uuid",), required=required) is None:
            return None
        group_id = uuid_param(request, "uuid")
        group = contact_list_queryset(client=self.client).filter(pk=str(group_id)).first()
        if group is None:
            raise exceptions.NotFound()
        return group

    def _name(self, body: Any, group: ContactList | None) -> str:
        """The name as RapidPro's ContactGroupWriteSerializer checks it (DRF trims it first)."""
        if "name" not in body:
            raise exceptions.ValidationError({"name": ["This field is required."]})
        value = body["name"]
        problem = None
        if value is None:
            problem = "This field may not be null."
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            problem = "Not a valid string."
        else:
            value = str(value).strip()
            if not value:
                problem = "This field may not be blank."
            elif "\x00" in value:
                problem = "Null characters are not allowed."
            elif len(value) > MAX_NAME:
                problem = f"Ensure this field has no more than {MAX_NAME} characters."
            elif forbidden := [ch for ch in value if ch in FORBIDDEN]:
                problem = f"Cannot contain the character: {forbidden[0]}"
            elif contact_list_name_taken(
                client=self.client, name=value, ignore_case=True, exclude=group.pk if group else None
            ):
                problem = "This field must be unique."
        if problem:
            raise exceptions.ValidationError({"name": [problem]})
        return str(value)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = json_object(request.data)
        group = self._group(request, required=False)
        name = self._name(body, group)
        if group is not None:
            return Response(render_group(contact_list_update(contact_list=group, name=name)))
        return Response(render_group(contact_list_create(client=self.client, name=name)), status=201)

    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self._group(request, required=True)
        if group is None:  # pragma: no cover - required: one_lookup raised already
            raise exceptions.NotFound()
        contact_list_delete(contact_list=group)
        return Response(status=204)
