from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from federation.api.serializers import PartnerSerializer
from federation.models import Partner


class Command(BaseCommand):
    help = "List partner labs and the state of both directions (--json for scripts)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        partners = Partner.objects.prefetch_related("shared_machines")
        if options["json"]:
            self.stdout.write(json.dumps(PartnerSerializer(partners, many=True).data, default=str))
            return
        for partner in partners:
            stopped = f" STOPPED ({partner.stopped_by})" if partner.is_stopped else ""
            self.stdout.write(
                f"{partner.name} {partner.instance_id}: they use us: {partner.state} {partner.scopes}; "
                f"we use them: {partner.outbound_state} {partner.outbound_scopes}{stopped}"
            )
