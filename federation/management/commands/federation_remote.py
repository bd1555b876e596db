from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.client import FederationError
from federation.management.commands.federation_approve import partner_by_name_or_id
from federation.services.remote import REMOTE_RESOURCES, partner_remote_get


class Command(BaseCommand):
    help = "Ask a partner lab for its shared machines or our stats there; prints its HTTP status and JSON."

    def add_arguments(self, parser):
        parser.add_argument("partner", help="partner name or instance id")
        parser.add_argument("resource", choices=sorted(REMOTE_RESOURCES))
        parser.add_argument(
            "--ask-anyway",
            action="store_true",
            help="send the request even if the partner is stopped here or did not grant the scope (diagnostics)",
        )

    def handle(self, *args, **options):
        partner = partner_by_name_or_id(options["partner"])
        try:
            answer = partner_remote_get(
                partner=partner, resource=options["resource"], check_grant=not options["ask_anyway"]
            )
        except (ValidationError, FederationError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        self.stdout.write(json.dumps({"status": answer.status, "etag": answer.etag, "data": answer.data}))
