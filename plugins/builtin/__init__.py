"""Built-in plugins shipped with Lab MES.

Each sub-package that is a plugin declares ``MES_PLUGINS = [PluginClass, ...]`` in its ``__init__``;
``plugins.discovery`` imports every sub-package and reads that list. A sub-package without
``MES_PLUGINS`` (e.g. a test simulator) is not a plugin and is skipped.
"""
