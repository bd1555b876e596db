from rest_framework.routers import SimpleRouter

from maintenance.api.views import MachineMaintenanceViewSet, PlanViewSet, RecordViewSet, ReportViewSet

router = SimpleRouter()
router.register("machines", MachineMaintenanceViewSet, basename="machine-maintenance")
router.register("plans", PlanViewSet, basename="maintenance-plan")
router.register("records", RecordViewSet, basename="maintenance-record")
router.register("reports", ReportViewSet, basename="out-of-order-report")

urlpatterns = router.urls
