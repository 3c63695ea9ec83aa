from django.contrib.auth import views as auth_views
from django.urls import path, re_path, reverse_lazy

from . import views
from .views import account, broadcasts, compose, contacts, team, templates_pages

app_name = "dashboard"

urlpatterns = [
    path("", broadcasts.overview, name="overview"),
    path("login/", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="dashboard/set_password.html", success_url=reverse_lazy("dashboard:login")
        ),
        name="set_password",
    ),
    path("broadcasts/", broadcasts.broadcast_list_view, name="broadcasts"),
    path("broadcasts/new/", compose.compose, name="compose"),
    path("broadcasts/new/counter/", compose.compose_counter, name="compose_counter"),
    path("broadcasts/new/contacts/", compose.compose_contact_search, name="compose_contacts"),
    path("broadcasts/new/contacts/pick/", compose.compose_contact_pick, name="compose_contact_pick"),
    path("broadcasts/<uuid:broadcast_id>/", broadcasts.broadcast_detail, name="broadcast_detail"),
    path("broadcasts/<uuid:broadcast_id>/progress/", broadcasts.broadcast_progress, name="broadcast_progress"),
    path("broadcasts/<uuid:broadcast_id>/test/", broadcasts.broadcast_test_send, name="broadcast_test"),
    path("broadcasts/<uuid:broadcast_id>/duplicate/", compose.broadcast_duplicate, name="broadcast_duplicate"),
    path("broadcasts/<uuid:broadcast_id>/edit/", compose.broadcast_edit, name="broadcast_edit"),
    path("broadcasts/<uuid:broadcast_id>/follow-up/", compose.broadcast_follow_up, name="broadcast_follow_up"),
    re_path(
        r"^broadcasts/(?P<broadcast_id>[0-9a-f-]{36})/(?P<action>pause|resume|cancel|retry-failed)/$",
        broadcasts.broadcast_action,
        name="broadcast_action",
    ),
    path("messages/", broadcasts.message_log, name="messages"),
    path("messages/export.csv", broadcasts.message_export, name="messages_export"),
    path("contacts/", contacts.contact_list_view, name="contacts"),
    re_path(
        r"^contacts/(?P<contact_id>[0-9a-f-]{36})/(?P<action>opt-out|opt-in)/$",
        contacts.contact_opt,
        name="contact_opt",
    ),
    path("contacts/lists/", contacts.contact_lists, name="contact_lists"),
    path("contacts/<uuid:contact_id>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<uuid:contact_id>/delete/", contacts.contact_delete, name="contact_delete"),
    path("contacts/lists/<uuid:list_id>/", contacts.contact_list_detail, name="contact_list_detail"),
    path("contacts/lists/<uuid:list_id>/delete/", contacts.contact_list_delete, name="contact_list_delete"),
    path(
        "contacts/lists/<uuid:list_id>/remove/<uuid:contact_id>/",
        contacts.contact_list_remove,
        name="contact_list_remove",
    ),
    path("contacts/imports/", contacts.contact_imports, name="contact_imports"),
    path("contacts/imports/<uuid:import_id>/", contacts.contact_import_detail, name="contact_import_detail"),
    path(
        "contacts/imports/<uuid:import_id>/progress/", contacts.contact_import_progress, name="contact_import_progress"
    ),
    path("templates/", account.templates, name="templates"),
    path("templates/<uuid:template_id>/submit/", account.template_submit, name="template_submit"),
    path("templates/<uuid:template_id>/", templates_pages.template_detail, name="template_detail"),
    path("templates/<uuid:template_id>/delete/", templates_pages.template_delete, name="template_delete"),
    path("wallet/", account.wallet, name="wallet"),
    path("settings/timezone/", account.time_zone, name="time_zone"),
    path("replies/", account.replies, name="replies"),
    path("tracking/", account.tracking, name="tracking"),
    path("tracking/<uuid:link_id>/", account.tracking_link, name="tracking_link"),
    path("api-management/", team.api_management, name="api_management"),
    path("api-management/keys/<uuid:key_id>/revoke/", team.api_key_revoke_view, name="api_key_revoke"),
    path("api-management/webhooks/<uuid:endpoint_id>/", team.webhook_endpoint, name="webhook_endpoint"),
    path("settings/", team.team, name="settings"),
    # Last, and config/urls.py includes this module last: every other route (admin, api, healthz, …)
    # is matched before it. New top-level routes go above the dashboard's include there.
    re_path(r"^(?P<path>.*)$", views.not_found, name="not_found"),
]
