"""Any change to plugin activation bumps the registry generation, however it was made."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from plugins.generation import generation_bump
from plugins.models import PluginConfig


@receiver(post_save, sender=PluginConfig)
@receiver(post_delete, sender=PluginConfig)
def _plugin_config_changed(sender, instance: PluginConfig, **kwargs) -> None:
    generation_bump(reason=f"plugin {instance.slug} changed")
