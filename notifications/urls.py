from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_page, name="list"),
    path("badge/", views.notification_badge, name="badge"),
    path("read/", views.notification_mark_read, name="mark-read"),
    path("preferences/", views.preference_page, name="preferences"),
]
