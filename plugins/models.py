"""Which plugins staff have switched on, and the registry generation every process watches."""

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


class RegistryGeneration(models.Model):
    """The durable copy of the registry generation (the cache holds the fast copy).

    Kept in the database so that a cache flush cannot send the counter backwards.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"generation {self.value}"
