from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mes.console import admin_password_write, display_path
from mes.signals import bootstrapped


class Command(BaseCommand):
    help = "Prepare a fresh install: migrate, create the cache table, collect static files, create an admin."

    def add_arguments(self, parser):
        parser.add_argument("--admin-user", default="admin")
        parser.add_argument(
            "--reset-admin",
            action="store_true",
            help="give the admin user a new generated password (created if missing)",
        )

    def handle(self, *args, **options):
        self.stdout.write("Applying database migrations…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.stdout.write("Collecting static files…")
        call_command("collectstatic", interactive=False, verbosity=0)
        user_model = get_user_model()
        bootstrapped.send(sender=self.__class__)
        username = options["admin_user"]
        if options["reset_admin"]:
            self._new_password(username)
            return
        admins = list(user_model.objects.filter(is_superuser=True).values_list("username", flat=True)[:3])
        if admins:
            self.stdout.write(
                f"Admin login: {', '.join(admins)} (password unchanged; forgotten? "
                f".venv/bin/python manage.py bootstrap --reset-admin)"
            )
            return
        self._new_password(username)

    def _new_password(self, username: str) -> None:
        password = secrets.token_urlsafe(12)
        user, created = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = user.is_active = True
        # An address, so the demo shows notification e-mails (printed on the worker's console).
        user.email = user.email or f"{username}@localhost"
        user.set_password(password)
        user.save()
        path = admin_password_write(username=username, password=password)
        verb = "Created admin user" if created else "New password for admin user"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} (also kept in {display_path(path)}, readable only by you):")
        )
        self.stdout.write(f"    username: {username}\n    password: {password}")
