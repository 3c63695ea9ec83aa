from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Last, and config/urls.py includes this module last: every other route (admin, api, healthz, …)
    # is matched before it. New top-level routes go above the dashboard's include there.
    re_path(r"^(?P<path>.*)$", views.not_found, name="not_found"),
]
