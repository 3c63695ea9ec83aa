"""/api/v1/templates/: list, create, retrieve, PATCH, DELETE, and POST /{id}/submit/ (SPEC §6)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldGenericViewSet
from accounts.api.schema import error_responses
from accounts.models import Scope
from templates_app.models import Template
from templates_app.selectors import template_get, template_list
from templates_app.services import template_create, template_delete, template_submit, template_update

from .filters import TemplateFilter
from .serializers import TemplateCreateSerializer, TemplateSerializer, TemplateUpdateSerializer


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, HeraldGenericViewSet):
    queryset = Template.objects.all()
    serializer_class = TemplateSerializer
    filterset_class = TemplateFilter
    read_scope = Scope.READ
    write_scope = Scope.TEMPLATES

    def get_client_queryset(self) -> QuerySet[Template]:
        return template_list(client=self.client)

    def get_object(self) -> Template:
        template = template_get(client=self.client, template_id=self.kwargs["pk"])
        if template is None:
            raise Http404
        return template

    @extend_schema(request=TemplateCreateSerializer, responses={201: TemplateSerializer})
    def create(self, request: Request) -> Response:
        serializer = TemplateCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = template_create(client=self.client, **serializer.validated_data)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TemplateUpdateSerializer, responses=TemplateSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        serializer = TemplateUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = template_update(template=template, **serializer.validated_data)
        return Response(TemplateSerializer(template).data)

    @extend_schema(responses={204: None, **error_responses(409)})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        template_delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=TemplateSerializer, summary="Submit a WhatsApp template for approval")
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        template = template_submit(template=self.get_object())
        return Response(TemplateSerializer(template).data)
