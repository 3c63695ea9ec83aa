"""/api/v1/webhooks/: endpoints, their secret, a test event and every delivery attempt."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldGenericViewSet
from accounts.api.filters import filterset_params, refuse_unknown_params
from accounts.models import Scope
from webhooks import services
from webhooks.models import WebhookEndpoint
from webhooks.selectors import delivery_queryset, endpoint_queryset

from .filters import OUTCOMES, WebhookDeliveryFilter, WebhookEndpointFilter
from .serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointSerializer,
    WebhookEndpointWithSecretSerializer,
    WebhookEndpointWriteSerializer,
    WebhookEventSerializer,
)

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
DELIVERY_PARAMS = filterset_params(WebhookDeliveryFilter) | {"cursor", "limit"}


class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, HeraldGenericViewSet
):
    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    filterset_class = WebhookEndpointFilter
    parser_classes = [JSONParser]
    write_scope = Scope.WEBHOOKS.value
    lookup_value_regex = UUID_PATTERN  # anything else is an unknown URL: 404

    def required_scope(self, request: Request) -> object:
        """Writes need `webhooks`; reads take `read`, or `webhooks` (a key made to manage webhooks
        can see what it manages)."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            principal = getattr(request, "user", None)
            has = getattr(principal, "has_scope", None)
            if has is not None and has(Scope.WEBHOOKS.value) and not has(Scope.READ.value):
                return Scope.WEBHOOKS.value
            return Scope.READ.value
        return self.write_scope

    def get_client_queryset(self) -> QuerySet[WebhookEndpoint]:
        return endpoint_queryset(client=self.client)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The endpoint filters belong to the list; an action's query parameters (the deliveries'
        # created_after) must not filter the endpoint it looks up.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    @extend_schema(request=WebhookEndpointWriteSerializer, responses={201: WebhookEndpointWithSecretSerializer})
    def create(self, request: Request) -> Response:
        serializer = WebhookEndpointWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = services.webhook_endpoint_create(
            client=self.client,
            url=data["url"],
            events=data["events"],
            format=data.get("format", WebhookEndpoint.Format.STANDARD),
        )
        if data.get("active") is False:
            services.webhook_endpoint_disable(endpoint=endpoint, reason=services.MANUAL_DISABLE_REASON)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookEndpointWriteSerializer(partial=True), responses=WebhookEndpointSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        serializer = WebhookEndpointWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.webhook_endpoint_update(endpoint=endpoint, data=serializer.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.webhook_endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses=WebhookEndpointWithSecretSerializer,
        summary="Replace the signing secret (the old one stops working at once); the new one is shown this once",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = services.webhook_endpoint_rotate_secret(endpoint=self.get_object())
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    @extend_schema(request=None, responses=WebhookEventSerializer, summary="Send a webhook.test event to the endpoint")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        event = services.webhook_test_send(endpoint=self.get_object())
        return Response(WebhookEventSerializer(event).data)

    @extend_schema(
        responses=WebhookDeliverySerializer(many=True),
        summary="Every delivery attempt to the endpoint, newest first",
        parameters=[
            OpenApiParameter("event_type", str, description="Only attempts of this event type."),
            OpenApiParameter("event_id", str, description="Only attempts of this event (evt_…)."),
            OpenApiParameter("outcome", str, enum=[o for o, _ in OUTCOMES], description="pending/succeeded/failed."),
            OpenApiParameter("created_after", str, description="ISO 8601."),
            OpenApiParameter("created_before", str, description="ISO 8601."),
        ],
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        refuse_unknown_params(request, DELIVERY_PARAMS)
        filterset = WebhookDeliveryFilter(request.query_params, queryset=delivery_queryset(endpoint=endpoint))
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        assert page is not None  # noqa: S101 - pagination is always on
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
