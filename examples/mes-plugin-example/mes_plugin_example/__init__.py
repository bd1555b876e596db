"""Example Lab MES plugin. The entry point ``mes.plugins`` → ``folder-labels`` names ``FolderLabelPlugin``."""

from mes_plugin_example.plugin import FolderLabelDriver, FolderLabelPlugin

__all__ = ["FolderLabelDriver", "FolderLabelPlugin"]
