from django.urls import path
from rest_framework.routers import SimpleRouter

from materials.api.views import DeductionViewSet, LoadedView, MaterialTypeViewSet, SpoolViewSet, StockView

router = SimpleRouter()
router.register("types", MaterialTypeViewSet, basename="material-type")
router.register("spools", SpoolViewSet, basename="spool")
router.register("deductions", DeductionViewSet, basename="spool-deduction")

urlpatterns = [
    path("stock/", StockView.as_view(), name="material-stock"),
    path("loaded/", LoadedView.as_view(), name="material-loaded"),
    *router.urls,
]
