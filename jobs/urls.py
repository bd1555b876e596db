"""Student pages under /jobs/ (the API lives in jobs/api/urls.py)."""

from django.urls import path

from jobs import job_views, submit_views, views
from jobs.states import ControlAction

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("live/", views.job_list_fragment, name="list-fragment"),
    path("submit/", submit_views.job_submit, name="submit"),
    path("submit/confirm/", submit_views.preview_confirm, name="preview-confirm"),
    path("submit/<uuid:pk>/cancel/", submit_views.preview_cancel, name="preview-cancel"),
    path("submit/<uuid:pk>/thumbnail/", submit_views.preview_thumbnail, name="preview-thumbnail"),
    path("<uuid:pk>/", job_views.job_detail, name="detail"),
    path("<uuid:pk>/live/", job_views.job_detail_fragment, name="detail-fragment"),
    path("<uuid:pk>/thumbnail/", views.job_thumbnail, name="thumbnail"),
    path("<uuid:pk>/pause/", views.job_control, {"action": ControlAction.PAUSE}, name="pause"),
    path("<uuid:pk>/resume/", views.job_control, {"action": ControlAction.RESUME}, name="resume"),
    path("<uuid:pk>/cancel/", views.job_control, {"action": ControlAction.CANCEL}, name="cancel"),
    path("machines/<uuid:machine_id>/bed-cleared/", views.job_bed_cleared, name="bed-cleared"),
]
