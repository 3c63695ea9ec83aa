"""The OpenAPI schema and Swagger UI, whose errors answer the JSON envelope like the rest of /api/."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .errors import JsonErrorsMixin


class SchemaView(JsonErrorsMixin, SpectacularAPIView):
    pass


class SwaggerView(JsonErrorsMixin, SpectacularSwaggerView):
    pass
