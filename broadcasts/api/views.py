"""/api/v1/broadcasts/ and /api/v1/messages/: thin doors into broadcasts.services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldGenericViewSet
from accounts.api.filters import refuse_unknown_params
from accounts.api.pagination import HeraldCursorPagination
from accounts.api.schema import error_responses
from accounts.api.throttles import API, SEND
from accounts.channels import Channel, send_scope
from accounts.dates import parse_iso_datetime
from accounts.exceptions import NotFoundError
from broadcasts import services
from broadcasts.models import Broadcast, Message, Occurrence, Reply
from broadcasts.selectors import broadcast_dashboard, broadcast_stats, message_list, reply_list
from wallets.pricing import money
from wallets.selectors import wallet_get

from .ab_serializers import variant_stats
from .dashboard_serializers import DashboardSerializer
from .filters import BroadcastFilter, MessageFilter, ReplyFilter
from .follow_up_serializers import FollowUpSerializer
from .recurring_serializers import OccurrencePageSerializer, OccurrenceSerializer, UpcomingOccurrenceSerializer
from .serializers import (
    BroadcastCreateSerializer,
    BroadcastSerializer,
    MessageSerializer,
    PrecheckSerializer,
    ReplySerializer,
    RetryFailedSerializer,
    SimulatedBroadcastSerializer,
    TestSendResultSerializer,
    TestSendSerializer,
)

SEND_ACTIONS = {"create", "send", "follow_up"}
DASHBOARD_PARAMS = ("created_after", "created_before")
BODY_CHANNEL_ACTIONS = {"create", "precheck"}


class BroadcastViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, HeraldGenericViewSet):
    queryset = Broadcast.objects.all()
    serializer_class = BroadcastSerializer
    filterset_class = BroadcastFilter
    # Bodies are JSON (lists, objects, booleans); a form body answers 415, as the schema says.
    parser_classes = [JSONParser]

    # --- who may do what ---------------------------------------------------------------------

    def required_scope(self, request: Request) -> object:
        if self.action in (None, "list", "retrieve", "dashboard") or request.method == "GET":
            return "read"
        if self.action in BODY_CHANNEL_ACTIONS:
            channel = request.data.get("channel") if isinstance(request.data, dict) else None
            return send_scope(channel if channel in Channel.values else Channel.SMS)
        if self.action == "follow_up":
            # A follow-up is a create on its own channel: the body's, else the original's (below).
            channel = request.data.get("channel") if isinstance(request.data, dict) else None
            if channel in Channel.values:
                return send_scope(channel)
        channel = (
            Broadcast.objects.filter(pk=str(self.kwargs.get("pk")), client=self.client)
            .values_list("channel", flat=True)
            .first()
            if _is_uuid(self.kwargs.get("pk"))
            else None
        )
        return send_scope(channel) if channel else None  # unknown id: 404 follows

    def get_throttle_scope(self, request: Request) -> str:
        return SEND if self.action in SEND_ACTIONS else API

    # --- reads ---------------------------------------------------------------------------------

    def _context(self, broadcasts: list[Broadcast], residual: Decimal | None = None) -> dict[str, Any]:
        if residual is None:
            wallet = wallet_get(client=self.client)
            residual = wallet.available if wallet else None
        return {
            "request": self.request,
            "stats": broadcast_stats(broadcast_ids=[b.pk for b in broadcasts if b.pk and not b._state.adding]),
            "residual_credit": residual,
        }

    def _respond(self, accepted: services.Accepted, code: int = status.HTTP_200_OK) -> Response:
        broadcast = accepted.broadcast
        context = self._context([broadcast], accepted.residual_credit)
        serializer = SimulatedBroadcastSerializer if accepted.simulated else BroadcastSerializer
        return Response(serializer(broadcast, context=context).data, status=code)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        assert page is not None  # noqa: S101 - pagination is always on
        return self.get_paginated_response(BroadcastSerializer(page, many=True, context=self._context(page)).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        broadcast = self.get_object()
        return Response(BroadcastSerializer(broadcast, context=self._context([broadcast])).data)

    # --- create and edit -----------------------------------------------------------------------

    @extend_schema(
        request=BroadcastCreateSerializer,
        responses={
            201: BroadcastSerializer,
            200: OpenApiResponse(SimulatedBroadcastSerializer, description="`simulate: true`: nothing was stored."),
            **error_responses(402),
        },
    )
    def create(self, request: Request) -> Response:
        principal = self.principal
        accepted = services.broadcast_create(
            client=self.client, data=request.data, api_key=principal.api_key, user=principal.user
        )
        code = status.HTTP_200_OK if accepted.simulated else status.HTTP_201_CREATED
        return self._respond(accepted, code)

    @extend_schema(request=BroadcastCreateSerializer, responses={200: PrecheckSerializer})
    @action(detail=False, methods=["post"])
    def precheck(self, request: Request) -> Response:
        return Response(services.broadcast_precheck(client=self.client, data=request.data))

    @extend_schema(request=BroadcastCreateSerializer, responses={200: BroadcastSerializer, **error_responses(402)})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(services.broadcast_update(broadcast=self.get_object(), patch=request.data))

    @extend_schema(responses={204: None, **error_responses(409)})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.broadcast_delete(broadcast=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- lifecycle -----------------------------------------------------------------------------

    def _state_response(self, broadcast: Broadcast) -> Response:
        return Response(BroadcastSerializer(broadcast, context=self._context([broadcast])).data)

    @extend_schema(request=None, responses={200: BroadcastSerializer, **error_responses(402)})
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(services.broadcast_send(broadcast=self.get_object()))

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._state_response(services.broadcast_cancel(broadcast=self.get_object()))

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._state_response(services.broadcast_pause(broadcast=self.get_object()))

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._state_response(services.broadcast_resume(broadcast=self.get_object()))

    @extend_schema(request=RetryFailedSerializer, responses={200: BroadcastSerializer, **error_responses(402)})
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request: Request, pk: str | None = None) -> Response:
        body = RetryFailedSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        include_unknown = bool(body.validated_data.get("include_unknown", False))
        return self._state_response(
            services.broadcast_retry_failed(broadcast=self.get_object(), include_unknown=include_unknown)
        )

    @extend_schema(request=TestSendSerializer, responses={200: TestSendResultSerializer, **error_responses(402)})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        messages = services.broadcast_test(broadcast=self.get_object(), recipients=body.get("recipients"))
        return Response(TestSendResultSerializer({"results": messages}).data)

    @extend_schema(
        request=FollowUpSerializer,
        responses={
            201: BroadcastSerializer,
            200: OpenApiResponse(SimulatedBroadcastSerializer, description="`simulate: true`: nothing was stored."),
            **error_responses(402),
        },
        description="A new broadcast (`parent` = this one) to an audience of this finished broadcast's recipients, "
        "through the normal create: opt-outs and quiet hours apply again. 409 while this one has not finished.",
    )
    @action(detail=True, methods=["post"], url_path="follow-up")
    def follow_up(self, request: Request, pk: str | None = None) -> Response:
        principal = self.principal
        accepted = services.broadcast_follow_up(
            original=self.get_object(), data=request.data, api_key=principal.api_key, user=principal.user
        )
        code = status.HTTP_200_OK if accepted.simulated else status.HTTP_201_CREATED
        return self._respond(accepted, code)

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="The next/previous URL's cursor."),
            OpenApiParameter("limit", int, description="1–1000 (default 50)."),
        ],
        responses={200: OccurrencePageSerializer, **error_responses(404)},
        description="A recurring series' occurrences: the past ones (newest first, a cursor page: created, with "
        "their broadcast; failed, with the error; missed) and `upcoming`, the next 5 from its rule.",
    )
    @action(detail=True, methods=["get"])
    def occurrences(self, request: Request, pk: str | None = None) -> Response:
        series = self.get_object()
        if not services.is_series(series):
            raise NotFoundError("This broadcast is not a recurring series: it has no occurrences.")
        paginator = OccurrencePagination()
        page: list[Occurrence] | None = paginator.paginate_queryset(series.occurrences.all(), request, view=self)
        response = paginator.get_paginated_response(OccurrenceSerializer(page, many=True).data)
        zone = ZoneInfo((series.recurrence or {}).get("timezone") or "UTC")
        response.data["upcoming"] = UpcomingOccurrenceSerializer(
            [
                {"occurrence_at": at, "local": at.astimezone(zone).isoformat()}
                for at in services.series_upcoming(series=series)
            ],
            many=True,
        ).data
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("created_after", str, description="ISO 8601"),
            OpenApiParameter("created_before", str, description="ISO 8601"),
        ],
        responses=DashboardSerializer,
    )
    @action(detail=False, methods=["get"])
    def dashboard(self, request: Request) -> Response:
        bounds: dict[str, Any] = {}
        refuse_unknown_params(request, DASHBOARD_PARAMS)
        for name in DASHBOARD_PARAMS:
            raw = request.query_params.get(name)
            if raw:
                parsed = parse_iso_datetime(raw)
                if parsed is None:
                    raise ValidationError({name: ["Use an ISO 8601 date and time."]})
                bounds[name] = parsed
        dashboard = broadcast_dashboard(client=self.client, **bounds)
        results = [
            {
                "id": row.broadcast.pk,
                "name": row.broadcast.name,
                "status": row.broadcast.status,
                "recipients": row.broadcast.total_recipients,
                "sent": row.stats.sent,
                "delivered": row.stats.delivered,
                "read": row.stats.read,
                "failed": row.stats.failed,
                "clicks": row.stats.clicks,
                "unique_clicks": row.stats.unique_clicks,
                "ctr": row.ctr,
                "delivery_rate": row.delivery_rate,
                "cost": money(row.stats.cost),
                "created_at": row.broadcast.created_at,
                "variants": variant_stats(row.broadcast),  # A/B tests only: one grouped query each
            }
            for row in dashboard.rows
        ]
        totals = dashboard.totals()
        totals["cost"] = money(totals["cost"])
        return Response(DashboardSerializer({"totals": totals, "results": results}).data)


def _is_uuid(value: object) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class OccurrencePagination(HeraldCursorPagination):
    ordering = ("-occurrence_at", "-id")


class MessagePagination(HeraldCursorPagination):
    # Message ids grow with creation; many rows share one created_at (bulk COPY), so ids page better.
    ordering = ("-id",)


class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, HeraldGenericViewSet):
    queryset = Message.objects.all()
    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    pagination_class = MessagePagination

    def get_client_queryset(self) -> QuerySet[Message]:
        return message_list(client=self.client, with_waits=True)


class ReplyPagination(HeraldCursorPagination):
    ordering = ("-created_at", "-id")


class ReplyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, HeraldGenericViewSet):
    """GET /api/v1/replies/: what contacts sent back (SPEC §10), newest first."""

    queryset = Reply.objects.all()
    serializer_class = ReplySerializer
    filterset_class = ReplyFilter
    pagination_class = ReplyPagination

    def get_client_queryset(self) -> QuerySet[Reply]:
        return reply_list(client=self.client)
