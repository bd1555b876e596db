"""Which plugins staff have switched on, their plugin-wide settings, and the registry generation."""

from __future__ import annotations

from django.db import models


class PluginConfig(models.Model):
    """One row per discovered plugin. Built-ins start active; third-party plugins start inactive."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    builtin = models.BooleanField(default=False, editable=False)
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "plugin"

    def __str__(self) -> str:
        return self.slug


class PluginSetting(models.Model):
    """A stored value of a plugin-wide setting (``SETTINGS`` on the plugin class), as text.

    Unset settings have no row and read as their declared default. Secret values are stored like any
    other value: they are masked on the way out (API, admin), so ``__str__`` never shows the value.
    """

    plugin = models.ForeignKey(PluginConfig, on_delete=models.CASCADE, related_name="settings")
    key = models.CharField(max_length=100)
    value = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plugin", "key"]
        constraints = [
            models.UniqueConstraint(fields=["plugin", "key"], name="unique_plugin_setting"),
        ]

    def __str__(self) -> str:
        return self.key  # never the value: this shows in admin history and logs


class RegistryGeneration(models.Model):
    """The durable copy of the registry generation (the cache holds the fast copy).

    Kept in the database so that a cache flush cannot send the counter backwards.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"generation {self.value}"
