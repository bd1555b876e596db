from __future__ import annotations

from django.core.management.base import BaseCommand

from federation.identity import full_key_id, local_key_rotate


class Command(BaseCommand):
    help = "Publish a new signing key; old keys stay published unless --retire-old."

    def add_arguments(self, parser):
        parser.add_argument(
            "--retire-old",
            action="store_true",
            help="stop publishing older keys and delete their private files",
        )

    def handle(self, *args, **options):
        key = local_key_rotate(retire_old=options["retire_old"])
        self.stdout.write(f"New signing key {full_key_id(key.kid)} published at /.well-known/lab-mes.")
