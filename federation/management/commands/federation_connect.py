from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.client import FederationError
from federation.models import SCOPE_NAMES
from federation.services.connections import partner_connect


class Command(BaseCommand):
    help = "Send a signed connection request to another lab, using the invitation code it gave you."

    def add_arguments(self, parser):
        parser.add_argument("base_url", help="the other lab's address, e.g. https://mes.other-lab.org")
        parser.add_argument("code", help="the invitation code ('' when the other lab is discoverable)")
        parser.add_argument(
            "--scopes", nargs="+", required=True, choices=SCOPE_NAMES, help="what this lab asks to use"
        )
        parser.add_argument("--message", default="", help="shown to the other lab's staff")

    def handle(self, *args, **options):
        try:
            partner = partner_connect(
                partner_base_url=options["base_url"],
                code=options["code"],
                scopes=options["scopes"],
                message=options["message"],
            )
        except (FederationError, ValidationError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Connection request sent to {partner.name} ({partner.instance_id}); ")
            + "waiting for their staff to approve it."
        )
