from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

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
    path("", mes_views.home, name="home"),
]
