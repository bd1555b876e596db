"""Django's development server, refusing DEBUG on an address other machines can reach."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from mes import config


class Command(StaticfilesRunserver):
    def run(self, **options):
        host = f"[{self.addr}]" if self._raw_ipv6 else self.addr
        try:
            config.refuse_debug(debug=settings.DEBUG, binds=[f"{host}:{self.port}"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        return super().run(**options)
