"""Running totals counted from the event stream (exactly once: in the consumer's transaction)."""

from __future__ import annotations

from django.db import models


class Tally(models.Model):
    """One counter value, e.g. ("jobs_finished", "") or ("events", "job.failed")."""

    name = models.CharField(max_length=64)
    label = models.CharField(max_length=100, blank=True)
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "label"], name="metrics_tally_once")]
        verbose_name_plural = "tallies"

    def __str__(self) -> str:
        return f"{self.name}{{{self.label}}} = {self.value}"
