from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from mes.api.views import ApiTokenViewSet, HealthView, MeView

router = SimpleRouter()
router.register("tokens", ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("machines/", include("machines.api.urls")),
    path("plugins/", include("plugins.api.urls")),
    path("federation/", include("federation.api.urls")),
    path("jobs/", include("jobs.api.urls")),
    *router.urls,
]
