from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.management.commands.federation_approve import partner_by_name_or_id
from federation.services.connections import partner_stop


class Command(BaseCommand):
    help = "Stop federation with a partner lab now; every later request from it is refused."

    def add_arguments(self, parser):
        parser.add_argument("partner", help="partner name or instance id")
        parser.add_argument("--reason", default="")
        parser.add_argument("--local-only", action="store_true", help="do not notify the partner")

    def handle(self, *args, **options):
        partner = partner_by_name_or_id(options["partner"])
        try:
            partner, notice = partner_stop(
                partner=partner, reason=options["reason"], notify=not options["local_only"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Federation with {partner.name} stopped; {notice}.")
