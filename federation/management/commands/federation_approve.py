from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.models import SCOPE_NAMES, Partner
from federation.services.connections import partner_approve, partner_reject
from machines.models import MachineConfig


class Command(BaseCommand):
    help = "Approve (or reject) a lab's connection request, narrowing scopes and setting quotas."

    def add_arguments(self, parser):
        parser.add_argument("partner", help="partner name or instance id")
        parser.add_argument(
            "--scopes", nargs="+", choices=SCOPE_NAMES, help="granted scopes (default: as asked)"
        )
        parser.add_argument("--jobs-per-day", type=int)
        parser.add_argument("--max-print-hours", type=Decimal)
        parser.add_argument("--machines", nargs="*", default=[], help="names of machines to share")
        parser.add_argument("--tags", nargs="*", default=[], help="share machines carrying these tags")
        parser.add_argument("--all-machines", action="store_true", help="share every active machine")
        parser.add_argument("--auto-accept", action="store_true")
        parser.add_argument("--on-stop", choices=Partner.OnStop.values, default=Partner.OnStop.FINISH)
        parser.add_argument("--reject", action="store_true", help="reject the request instead")

    def handle(self, *args, **options):
        partner = partner_by_name_or_id(options["partner"])
        try:
            if options["reject"]:
                partner_reject(partner=partner)
                self.stdout.write(f"Rejected {partner.name}.")
                return
            machines = list(MachineConfig.objects.filter(name__in=options["machines"]))
            missing = sorted(set(options["machines"]) - {m.name for m in machines})
            if missing:
                raise CommandError(f"No machines named {missing}.")
            partner = partner_approve(
                partner=partner,
                scopes=options["scopes"] or partner.requested_scopes,
                jobs_per_day=options["jobs_per_day"],
                max_print_hours=options["max_print_hours"],
                share_all_machines=options["all_machines"],
                shared_machines=machines,
                shared_tags=options["tags"],
                auto_accept=options["auto_accept"],
                on_stop=options["on_stop"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"Approved {partner.name} for {', '.join(partner.scopes)}."))
        self.stdout.write("The grant is sent by the outbox (`manage.py federation_deliver` sends it now).")


def partner_by_name_or_id(value: str) -> Partner:
    partner = Partner.objects.filter(name=value).first()
    if partner is None:
        try:
            partner = Partner.objects.filter(instance_id=value).first()
        except ValidationError:
            partner = None
    if partner is None:
        raise CommandError(f"No partner named {value!r} (see `manage.py federation_partners`).")
    return partner
