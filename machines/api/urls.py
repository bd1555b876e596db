from django.urls import path
from rest_framework.routers import SimpleRouter

from machines.api.control_views import MachineControlsView, MachineControlView
from machines.api.views import DriverListView, MachineTypeListView, MachineViewSet, RegistryStatusView

router = SimpleRouter()
router.register("", MachineViewSet, basename="machine")

urlpatterns = [
    path("types/", MachineTypeListView.as_view(), name="machine-types"),
    path("drivers/", DriverListView.as_view(), name="machine-drivers"),
    path("registry/", RegistryStatusView.as_view(), name="machine-registry"),
    path("<uuid:machine_id>/controls/", MachineControlsView.as_view(), name="machine-controls"),
    path("<uuid:machine_id>/controls/<str:control>/", MachineControlView.as_view(), name="machine-control"),
    *router.urls,
]
