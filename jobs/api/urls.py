from django.urls import path
from rest_framework.routers import SimpleRouter

from jobs.api import bed_views, views

router = SimpleRouter()
router.register("", views.JobViewSet, basename="job")

urlpatterns = [
    path("queue/", views.QueueView.as_view(), name="job-queue"),
    path("queue/move/", views.QueueMoveView.as_view(), name="job-queue-move"),
    path("queue/remove/", views.QueueRemoveView.as_view(), name="job-queue-remove"),
    path("queue/clear/", views.QueueClearView.as_view(), name="job-queue-clear"),
    path("queue/start/", views.QueueStartView.as_view(), name="job-queue-start"),
    path("queue/stop/", views.QueueStopView.as_view(), name="job-queue-stop"),
    path("queue/stop/cancel/", views.QueueStopCancelView.as_view(), name="job-queue-stop-cancel"),
    path("queue/lock/", views.QueueLockView.as_view(), name="job-queue-lock"),
    path("queue/unlock/", views.QueueUnlockView.as_view(), name="job-queue-unlock"),
    path("history/", views.HistoryView.as_view(), name="job-history"),
    path(
        "machines/<uuid:machine_id>/bed-cleared/",
        bed_views.MachineBedClearedView.as_view(),
        name="job-machine-bed-cleared",
    ),
    *router.urls,
]
