"""GET /api/v1/me/ and the dashboard's /api/v1/api-keys/ (owners and admins, logged in)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiKey, Membership
from accounts.selectors import api_key_list
from accounts.services import api_key_create, api_key_revoke

from .base import HeraldAPIView, HeraldGenericViewSet
from .filters import ApiKeyFilter
from .schema import error_responses
from .serializers import ApiKeyCreatedSerializer, ApiKeyCreateSerializer, ApiKeySerializer, MeSerializer


class MeView(HeraldAPIView):
    read_scope = None  # any valid key may ask who it is

    @extend_schema(responses=MeSerializer, summary="The client, key and scopes of this request")
    def get(self, request: Request) -> Response:
        principal = self.principal
        data = {
            "client": principal.client,
            "key_name": principal.api_key.name if principal.api_key else None,
            "key_prefix": principal.api_key.prefix if principal.api_key else None,
            "user": principal.user.get_username() if principal.user else None,
            "role": principal.role,
            "scopes": sorted(principal.scopes),
        }
        return Response(MeSerializer(data).data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, HeraldGenericViewSet):
    queryset = ApiKey.objects.all()
    serializer_class = ApiKeySerializer
    filterset_class = ApiKeyFilter
    session_only = True
    allowed_roles = (Membership.Role.OWNER, Membership.Role.ADMIN)
    read_scope = None
    write_scope = None

    def get_client_queryset(self) -> QuerySet[ApiKey]:
        return api_key_list(client=self.client)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, raw = api_key_create(client=self.client, created_by=self.principal.user, **serializer.validated_data)
        body = ApiKeySerializer(api_key).data | {"key": raw}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        api_key = api_key_revoke(api_key=get_object_or_404(self.get_queryset(), pk=pk))
        return Response(ApiKeySerializer(api_key).data)

    @extend_schema(responses={204: None, **error_responses(409)})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_key_revoke(api_key=get_object_or_404(self.get_queryset(), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
