from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path

from accounts.api.errors import api_not_found
from accounts.api.schema_views import SchemaView, SwaggerView
from accounts.views import healthz, metrics
from broadcasts.api.hooks import connector_hook
from tracking.views import redirect as tracking_redirect

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("contacts.api.urls")),
    path("", include("templates_app.api.urls")),
    path("", include("wallets.api.urls")),
    path("", include("broadcasts.api.urls")),
    path("", include("tracking.api.urls")),
    path("", include("webhooks.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include(api_v1)),
    # SPEC §14: the seed systems' own APIs, in their own shapes (before Herald's /api/ 404).
    path("api/v2/", include("compat.rapidpro.urls")),
    path("octopush/v1/public/", include("compat.octopush.urls")),
    path("octopush-legacy/api/", include("compat.octopush_legacy.urls")),
    path("teekrr/", include("compat.teekrr.urls")),
    path("api/messages/", include("compat.esms.urls")),
    re_path(r"^api/", api_not_found),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    # What browsers ask for before any page says where its icon is.
    # (resolved per request: the static manifest is read when one is asked for, not at import).
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("dashboard/favicon.svg"))),
    path("hooks/<uuid:connector_id>/<str:kind>/", connector_hook, name="connector-hook"),
    # Short links: anything under r/ is answered by the redirect (an unknown code: its plain 404).
    re_path(r"^r/(?P<code>.*)$", tracking_redirect, name="tracking-redirect"),
    path("jina/broadcast/", include("compat.jina.urls")),
    # Last: the dashboard ends with a catch-all (its 404 page), so anything added below is never reached.
    path("", include("dashboard.urls")),
]

handler400 = "accounts.api.errors.handler400"
handler403 = "accounts.api.errors.handler403"
handler404 = "accounts.api.errors.handler404"
handler500 = "accounts.api.errors.handler500"
