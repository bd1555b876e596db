from django.urls import path

from notifications.api import views

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notification-list"),
    path("read/", views.NotificationReadView.as_view(), name="notification-read"),
    path("preferences/", views.PreferenceView.as_view(), name="notification-preferences"),
]
