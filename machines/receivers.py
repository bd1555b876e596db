"""Any change to machines or their settings bumps the registry generation, however it was made
(API, admin, shell), so every process reloads. Live-state writes sample temperatures for the machine
page's chart (machines.temperatures)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from machines import temperatures
from machines.models import MachineConfig, MachineSetting
from machines.signals import machine_state_changed
from machines.state import forget_state
from plugins.generation import generation_bump


@receiver(post_save, sender=MachineConfig)
@receiver(post_save, sender=MachineSetting)
def _machine_changed(sender, instance, **kwargs) -> None:
    generation_bump(reason=f"{sender.__name__} {instance.pk} saved")


@receiver(post_delete, sender=MachineSetting)
def _setting_deleted(sender, instance: MachineSetting, **kwargs) -> None:
    generation_bump(reason=f"setting {instance.key} deleted")


@receiver(post_delete, sender=MachineConfig)
def _machine_deleted(sender, instance: MachineConfig, **kwargs) -> None:
    forget_state(instance.pk)
    temperatures.forget(instance.pk)
    generation_bump(reason=f"machine {instance.pk} deleted")


# Samples for the machine page's temperature chart (machines.temperatures).
machine_state_changed.connect(temperatures.on_machine_state_changed, dispatch_uid="machines.temperatures")
