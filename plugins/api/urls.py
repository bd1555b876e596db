from django.urls import path

from plugins.api.views import PluginActivationView, PluginListView, PluginSettingsView

urlpatterns = [
    path("", PluginListView.as_view(), name="plugin-list"),
    path("<slug:slug>/activate/", PluginActivationView.as_view(active=True), name="plugin-activate"),
    path("<slug:slug>/deactivate/", PluginActivationView.as_view(active=False), name="plugin-deactivate"),
    path("<slug:slug>/settings/", PluginSettingsView.as_view(), name="plugin-settings"),
]
