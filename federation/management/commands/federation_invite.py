from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.services.connections import invitation_create


class Command(BaseCommand):
    help = "Create a single-use invitation for another lab and print its code once."

    def add_arguments(self, parser):
        parser.add_argument("--note", default="", help="which lab the code is for")
        parser.add_argument("--days", type=int, default=7, help="expires after this many days (1-90)")

    def handle(self, *args, **options):
        try:
            invitation, code = invitation_create(note=options["note"], days=options["days"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Invitation {invitation.pk} expires {invitation.expires_at:%Y-%m-%d %H:%M %Z}.")
        self.stdout.write("Give this code to the other lab (it is not shown again):")
        self.stdout.write(code)
