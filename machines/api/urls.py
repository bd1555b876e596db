from django.urls import path
from rest_framework.routers import SimpleRouter

from machines.api.views import DriverListView, MachineTypeListView, MachineViewSet, RegistryStatusView

router = SimpleRouter()
router.register("", MachineViewSet, basename="machine")

urlpatterns = [
    path("types/", MachineTypeListView.as_view(), name="machine-types"),
    path("drivers/", DriverListView.as_view(), name="machine-drivers"),
    path("registry/", RegistryStatusView.as_view(), name="machine-registry"),
    *router.urls,
]
