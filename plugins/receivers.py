"""Any change to plugin activation or plugin settings bumps the registry generation, however it was
made (API, admin, shell), so every process reloads; this process reloads its settings right away."""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from plugins.generation import generation_bump
from plugins.models import PluginConfig, PluginSetting
from plugins.signals import registry_changed


@receiver(post_save, sender=PluginConfig)
@receiver(post_delete, sender=PluginConfig)
def _plugin_config_changed(sender, instance: PluginConfig, **kwargs) -> None:
    generation_bump(reason=f"plugin {instance.slug} changed")


@receiver(post_save, sender=PluginSetting)
@receiver(post_delete, sender=PluginSetting)
def _plugin_setting_changed(sender, instance: PluginSetting, **kwargs) -> None:
    # The reason names the key only: values (secrets included) are never logged.
    generation_bump(reason=f"plugin setting {instance.plugin_id}:{instance.key} changed")


@receiver(registry_changed)
def _reload_settings(sender, **kwargs) -> None:
    registry = getattr(apps.get_app_config("plugins"), "plugin_registry", None)
    if registry is not None:
        registry.mark_settings_dirty()
