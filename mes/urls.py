from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from federation import views as federation_views
from mes import views as mes_views

admin.site.site_header = f"{settings.MES_SITE_NAME} administration"
admin.site.site_title = settings.MES_SITE_NAME
admin.site.index_title = "Machines, jobs and partner labs"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("mes.api.urls")),
    path(".well-known/lab-mes", federation_views.well_known, name="federation-well-known"),
    path("jobs/", include("jobs.urls")),
    path("fleet/", include("jobs.fleet_urls")),
    # Browsers ask for /favicon.ico on pages that do not name one (the JSON API, files).
    path("favicon.ico", RedirectView.as_view(url=static("mes/favicon.svg"), permanent=True)),
    path("", mes_views.home, name="home"),
]
