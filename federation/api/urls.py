"""Mounted at /api/federation/: staff endpoints here, partner-facing (signed) ones under v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from federation.api import staff, views

router = SimpleRouter()
router.register("partners", staff.PartnerViewSet, basename="federation-partner")
router.register("invitations", staff.InvitationViewSet, basename="federation-invitation")
router.register("forwarded-jobs", staff.ForwardedJobViewSet, basename="federation-forwarded-job")
router.register("incoming-jobs", staff.IncomingJobViewSet, basename="federation-incoming-job")
router.register("events", staff.FederationEventViewSet, basename="federation-event")

app_name = "federation"
urlpatterns = [
    path("identity/", staff.IdentityView.as_view(), name="identity"),
    path("v1/connection-requests/", views.ConnectionRequestView.as_view(), name="connection-request"),
    path("v1/machines/", views.MachinesView.as_view(), name="machines"),
    path("v1/stats/", views.StatsView.as_view(), name="stats"),
    path("v1/jobs/<uuid:origin_job_id>/", views.JobView.as_view(), name="job"),
    path("v1/jobs/<uuid:origin_job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("v1/inbox/", views.InboxView.as_view(), name="inbox"),
    *router.urls,
]
