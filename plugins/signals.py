"""Signals of the plugin framework."""

from django.dispatch import Signal

# Sent (in the process that made the change, right away) when anything the registries are built from
# changed: machines, settings, drivers or plugin activation. Other processes notice via the generation.
registry_changed = Signal()
