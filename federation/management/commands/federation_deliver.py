from __future__ import annotations

from django.core.management.base import BaseCommand

from federation.services.outbox import federation_deliver_due_events


class Command(BaseCommand):
    help = "Deliver due outbox events to partner labs now (the periodic task does this every 10 s)."

    def handle(self, *args, **options):
        self.stdout.write(f"{federation_deliver_due_events()} events delivered.")
