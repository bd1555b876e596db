from django.urls import path
from rest_framework.routers import SimpleRouter

from policies.api.views import (
    ClosureViewSet,
    JobOverrideViewSet,
    MachinePolicyViewSet,
    MyPoliciesView,
    OpeningHoursViewSet,
    QuotaViewSet,
    TrainingRecordViewSet,
    TrainingRequirementViewSet,
    TrainingViewSet,
)

router = SimpleRouter()
router.register("trainings", TrainingViewSet, basename="policy-training")
router.register("requirements", TrainingRequirementViewSet, basename="policy-requirement")
router.register("records", TrainingRecordViewSet, basename="policy-record")
router.register("hours", OpeningHoursViewSet, basename="policy-hours")
router.register("closures", ClosureViewSet, basename="policy-closure")
router.register("quotas", QuotaViewSet, basename="policy-quota")
router.register("overrides", JobOverrideViewSet, basename="policy-override")
router.register("machines", MachinePolicyViewSet, basename="policy-machine")

urlpatterns = [
    path("me/", MyPoliciesView.as_view(), name="policy-me"),
    *router.urls,
]
