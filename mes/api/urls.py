from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from mes.api.views import ApiTokenViewSet, HealthView, MeView, SchemaView

DOCS_CSP = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})

router = SimpleRouter()
router.register("tokens", ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SchemaView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the pages need no inline script (CSP).
    # Both bundles set styles at run time (ReDoc through injected <style> elements and a blob:
    # worker), so these two views, and only these, allow inline styles; scripts stay our own files.
    path(
        "docs/",
        DOCS_CSP(SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html")),
        name="swagger-ui",
    ),
    path(
        "redoc/",
        DOCS_CSP(SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")),
        name="redoc",
    ),
    path("machines/", include("machines.api.urls")),
    path("plugins/", include("plugins.api.urls")),
    path("federation/", include("federation.api.urls")),
    path("jobs/", include("jobs.api.urls")),
    path("webhooks/", include("webhooks.api.urls")),
    path("notifications/", include("notifications.api.urls")),
    path("materials/", include("materials.api.urls")),
    path("policies/", include("policies.api.urls")),
    path("maintenance/", include("maintenance.api.urls")),
    *router.urls,
]
