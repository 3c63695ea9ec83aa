"""/api/v1/contacts/, /contact-lists/, /contact-imports/: parse, authorize, call a service, answer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldGenericViewSet
from accounts.models import Scope
from contacts.imports import contact_import_create
from contacts.models import Contact, ContactImport, ContactList, OptOutSource
from contacts.selectors import contact_get, contact_import_queryset, contact_list_queryset, contact_queryset
from contacts.services import (
    contact_create,
    contact_delete,
    contact_list_add_contacts,
    contact_list_create,
    contact_list_delete,
    contact_list_remove_contacts,
    contact_list_update,
    contact_opt_in,
    contact_opt_out,
    contact_update,
)

from .filters import ContactFilter, ContactImportFilter, ContactListFilter
from .serializers import (
    ContactImportCreateSerializer,
    ContactImportSerializer,
    ContactListCreateSerializer,
    ContactListMembersSerializer,
    ContactListSerializer,
    ContactSerializer,
    ContactWriteSerializer,
)

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class _ContactsViewSet(HeraldGenericViewSet):
    write_scope = Scope.CONTACTS.value
    lookup_value_regex = UUID_PATTERN  # anything else is an unknown URL: 404, never a 500 or 400


class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ContactsViewSet):
    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    filterset_class = ContactFilter

    def get_client_queryset(self) -> QuerySet[Contact]:
        return contact_queryset(client=self.client)

    def _answer(self, contact: Contact, code: int = status.HTTP_200_OK) -> Response:
        fresh = contact_get(client=self.client, contact_id=contact.pk)  # with its lists
        return Response(ContactSerializer(fresh).data, status=code)

    def _source(self) -> str:
        return OptOutSource.API if self.principal.api_key is not None else OptOutSource.DASHBOARD

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer})
    def create(self, request: Request) -> Response:
        serializer = ContactWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = contact_create(client=self.client, **serializer.validated_data)
        return self._answer(contact, status.HTTP_201_CREATED)

    def _update(self, request: Request, *, partial: bool) -> Response:
        contact = self.get_object()
        serializer = ContactWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        contact_update(contact=contact, data=serializer.validated_data, replace_fields=not partial)
        return self._answer(contact)

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        contact_delete(contact=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ContactSerializer, summary="Opt the contact out (idempotent)")
    @action(detail=True, methods=["post"], url_path="opt-out")
    def opt_out(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(contact_opt_out(contact=self.get_object(), source=self._source()))

    @extend_schema(request=None, responses=ContactSerializer, summary="Opt the contact back in (idempotent)")
    @action(detail=True, methods=["post"], url_path="opt-in")
    def opt_in(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(contact_opt_in(contact=self.get_object(), source=self._source()))


class ContactListViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ContactsViewSet):
    queryset = ContactList.objects.all()
    serializer_class = ContactListSerializer
    filterset_class = ContactListFilter

    def get_client_queryset(self) -> QuerySet[ContactList]:
        return contact_list_queryset(client=self.client)

    @extend_schema(request=ContactListCreateSerializer, responses={201: ContactListSerializer})
    def create(self, request: Request) -> Response:
        serializer = ContactListCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contact_list = contact_list_create(client=self.client, name=data["name"], number=data.get("number"))
        return Response(ContactListSerializer(contact_list).data, status=status.HTTP_201_CREATED)

    def _rename(self, request: Request, *, partial: bool) -> Response:
        contact_list = self.get_object()
        serializer = ContactListSerializer(contact_list, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if "name" in serializer.validated_data:
            contact_list_update(contact_list=contact_list, name=serializer.validated_data["name"])
        return Response(ContactListSerializer(contact_list).data)

    @extend_schema(request=ContactListSerializer, responses=ContactListSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._rename(request, partial=False)

    @extend_schema(request=ContactListSerializer, responses=ContactListSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._rename(request, partial=True)

    @extend_schema(responses={204: None}, summary="Delete the list (its contacts stay)")
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        contact_list_delete(contact_list=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["POST"],
        request=ContactListMembersSerializer,
        responses=ContactListSerializer,
        summary="Add contacts to the list",
    )
    @extend_schema(
        methods=["DELETE"],
        request=ContactListMembersSerializer,
        responses={200: ContactListSerializer},
        summary="Remove contacts from the list",
        description='The body is JSON, as for POST: {"contacts": [ids]}. Answers the list with its new count.',
    )
    @action(detail=True, methods=["post", "delete"], url_path="contacts")
    def members(self, request: Request, pk: str | None = None) -> Response:
        contact_list = self.get_object()
        serializer = ContactListMembersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data["contacts"]
        if request.method == "POST":
            contact_list_add_contacts(contact_list=contact_list, contact_ids=ids)
        else:
            contact_list_remove_contacts(contact_list=contact_list, contact_ids=ids)
        return Response(ContactListSerializer(contact_list).data)


class ContactImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ContactsViewSet):
    queryset = ContactImport.objects.all()
    serializer_class = ContactImportSerializer
    filterset_class = ContactImportFilter
    parser_classes = [MultiPartParser, FormParser]

    def get_client_queryset(self) -> QuerySet[ContactImport]:
        return contact_import_queryset(client=self.client)

    @extend_schema(
        request={"multipart/form-data": ContactImportCreateSerializer},
        responses={202: ContactImportSerializer, 400: OpenApiResponse(description="The file cannot be imported.")},
    )
    def create(self, request: Request) -> Response:
        serializer = ContactImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        upload = data["file"]
        job = contact_import_create(
            client=self.client,
            file=upload,
            file_name=upload.name or "",
            list_id=data.get("list"),
            list_name=data.get("list_name"),
            list_number=data.get("list_number"),
            update_existing=data["update_existing"],
        )
        return Response(ContactImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)
