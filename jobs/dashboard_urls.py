"""The staff dashboard under /dashboard/ (CSV of each table: ?format=csv&table=…)."""

from django.urls import path

from jobs import dashboard_views

app_name = "dashboard"

urlpatterns = [
    path("", dashboard_views.dashboard, name="page"),
]
