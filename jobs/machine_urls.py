"""A machine's page for staff under /machines/ (the API's machines live under /api/machines/)."""

from django.urls import path

from jobs import machine_views

app_name = "machine"

urlpatterns = [
    path("<uuid:machine_id>/", machine_views.machine_detail, name="detail"),
    path("<uuid:machine_id>/live/", machine_views.machine_fragment, name="fragment"),
    path("<uuid:machine_id>/camera.jpg", machine_views.machine_camera, name="camera"),
]
