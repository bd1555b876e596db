"""Signals of the plugin framework."""

from django.dispatch import Signal

# Sent (in the process that made the change, right away) when anything the registries are built from
# changed: machines, settings, drivers or plugin activation. Other processes notice via the generation.
registry_changed = Signal()

# Sent before the plugin admin and API show plugin errors. Registries built from what plugins provide
# (the machine registry checks their machine types and drivers) reload if needed and report their
# findings with ``PluginRegistry.set_provided_errors``; the framework itself knows none of them.
plugin_errors_requested = Signal()

# Sent (with ``plugin``: the DiscoveredPlugin) before an inactive plugin is activated. Receivers return a
# list of ``PluginError`` for what they would refuse in it (the machine registry checks its machine
# types and drivers); any error keeps the plugin inactive.
plugin_activation_checked = Signal()
