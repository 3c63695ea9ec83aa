"""/api/v1/url-tracking/: a client's tracked links with their counters, and each link's clicks."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldGenericViewSet
from accounts.api.filters import refuse_unknown_params
from accounts.api.pagination import HeraldCursorPagination
from tracking.models import TrackedLink
from tracking.selectors import link_clicks, link_list

from .filters import TrackedLinkFilter
from .serializers import ClickSerializer, TrackedLinkSerializer

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class ClickPagination(HeraldCursorPagination):
    ordering = ("-clicked_at", "-id")


class TrackedLinkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, HeraldGenericViewSet):
    """Read-only (scope `read`): links are written by the broadcasts that send them."""

    queryset = TrackedLink.objects.all()
    serializer_class = TrackedLinkSerializer
    filterset_class = TrackedLinkFilter
    lookup_value_regex = UUID_PATTERN  # anything else is an unknown URL: 404

    def get_client_queryset(self) -> QuerySet[TrackedLink]:
        return link_list(client=self.client)

    @extend_schema(responses=ClickSerializer(many=True), summary="The link's clicks, newest first")
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=ClickPagination)
    def clicks(self, request: Request, pk: str | None = None) -> Response:
        link = self.get_object()
        refuse_unknown_params(request, {"cursor", "limit"})
        page = self.paginate_queryset(link_clicks(link=link))
        assert page is not None  # noqa: S101 - pagination is always on
        return self.get_paginated_response(ClickSerializer(page, many=True).data)
