from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand

from mes.engine import schedule, send_now
from mes.leases import default_lease_store, new_owner_id

logger = logging.getLogger(__name__)
BEAT_LEASE = "mes:beat"
LEASE_TTL = 10.0


class Command(BaseCommand):
    help = "Run the declared periodic tasks on the embedded engine (one beat per installation)."

    def add_arguments(self, parser):
        parser.add_argument("--tick", type=float, default=0.5, help="seconds between checks")
        parser.add_argument("--once", action="store_true", help="send every task once and exit (for tests)")

    def handle(self, *args, **options):
        entries = schedule().entries()
        if options["once"]:
            for entry in entries:
                send_now(entry.task)
            return
        store, owner = default_lease_store(), new_owner_id("beat")
        next_run = {entry.name: time.monotonic() for entry in entries}
        listed = ", ".join(f"{entry.name} every {entry.seconds:g} s" for entry in entries)
        self.stdout.write(f"beat {owner}: {len(entries)} periodic task(s): {listed}")
        leader = False
        last_renew = 0.0
        while True:
            now = time.monotonic()
            if now - last_renew >= LEASE_TTL / 3:
                held = bool(store.acquire_many([BEAT_LEASE], owner=owner, ttl=LEASE_TTL))
                if held != leader:
                    self.stdout.write(f"beat {owner}: {'leading' if held else 'standing by'}")
                leader, last_renew = held, now
            if leader:
                for entry in entries:
                    if now >= next_run[entry.name]:
                        send_now(entry.task)
                        next_run[entry.name] = now + entry.seconds
            time.sleep(options["tick"])
