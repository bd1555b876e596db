"""The staff fleet board under /fleet/."""

from django.urls import path

from jobs import views

app_name = "fleet"

urlpatterns = [
    path("", views.fleet_board, name="board"),
    path("live/", views.fleet_fragment, name="fragment"),
    path("<uuid:machine_id>/bed-cleared/", views.fleet_bed_cleared, name="bed-cleared"),
    path("<uuid:machine_id>/control/<str:control>/", views.fleet_machine_control, name="control"),
    path("<uuid:machine_id>/maintenance/<str:action>/", views.fleet_maintenance, name="maintenance"),
]
