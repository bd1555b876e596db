from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from federation import views as federation_views
from mes import views as mes_views
from metrics.views import metrics_view

admin.site.site_header = f"{settings.MES_SITE_NAME} administration"
admin.site.site_title = settings.MES_SITE_NAME
admin.site.index_title = "Machines, jobs and partner labs"

urlpatterns = [
    # Everyone logs in on the lab's page, also when the admin asks (students never see the admin's).
    path("admin/login/", mes_views.admin_login),
    path("admin/", admin.site.urls),
    # Django's login, logout, password change and reset by e-mail, with the lab's templates.
    path(
        "accounts/password_reset/",
        mes_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("mes.api.urls")),
    path(".well-known/lab-mes", federation_views.well_known, name="federation-well-known"),
    path("jobs/", include("jobs.urls")),
    path("notifications/", include("notifications.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("fleet/", include("jobs.fleet_urls")),
    path("board/", include("jobs.board_urls")),  # the public ETA board (no login)
    path("machines/", include("jobs.machine_urls")),
    path("dashboard/", include("jobs.dashboard_urls")),  # staff: utilisation, outcomes, waits, usage
    # Browsers ask for /favicon.ico on pages that do not name one (the JSON API, files).
    path("favicon.ico", RedirectView.as_view(url=static("mes/favicon.svg"), permanent=True)),
    path("", mes_views.home, name="home"),
]
if settings.OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))

# HTML error pages that say what happened and where to go (the API answers in JSON, see mes.errors).
handler403 = "mes.errors.permission_denied"
handler404 = "mes.errors.page_not_found"
handler500 = "mes.errors.server_error"
