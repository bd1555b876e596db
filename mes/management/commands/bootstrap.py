from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mes.signals import bootstrapped


class Command(BaseCommand):
    help = "Prepare a fresh install: migrate, create the cache table, collect static files, create an admin."

    def add_arguments(self, parser):
        parser.add_argument("--admin-user", default="admin")

    def handle(self, *args, **options):
        self.stdout.write("Applying database migrations…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.stdout.write("Collecting static files…")
        call_command("collectstatic", interactive=False, verbosity=0)
        user_model = get_user_model()
        bootstrapped.send(sender=self.__class__)
        admins = list(user_model.objects.filter(is_superuser=True).values_list("username", flat=True)[:3])
        if admins:
            self.stdout.write(
                f"Admin login: {', '.join(admins)} (password unchanged; forgotten? "
                f".venv/bin/python manage.py changepassword {admins[0]})"
            )
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(options["admin_user"], "", password)
        self.stdout.write(self.style.SUCCESS("Created admin user (this password is printed only once):"))
        self.stdout.write(f"    username: {options['admin_user']}\n    password: {password}")
