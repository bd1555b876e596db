from __future__ import annotations

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from opcua import wiring
from opcua.bridge.runner import Bridge
from opcua.conf import OpcuaConfigError, get_config

logger = logging.getLogger("opcua.bridge")


class Command(BaseCommand):
    help = (
        "Run the OPC UA bridge: write into the lab's server (OPCUA_SERVER_URL) or serve our own "
        "(OPCUA_SERVE). Runs until SIGINT/SIGTERM; reconnects by itself."
    )

    def handle(self, *args, **options) -> None:
        config = get_config()
        try:
            config.validate()
        except OpcuaConfigError as exc:
            raise CommandError(str(exc)) from None
        if not config.mode:
            raise CommandError("OPC UA is not configured: set OPCUA_SERVER_URL or OPCUA_SERVE")
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # asyncua logs every session and request at INFO; our own logger says what matters.
            logging.getLogger("asyncua").setLevel(logging.WARNING)
        try:
            changed = wiring.publish_all()
        except Exception:
            logger.exception("OPC UA: could not publish the current fleet at start")
        else:
            self.stdout.write(f"OPC UA: {changed} changes queued from the current fleet and queue")
        asyncio.run(self._run(Bridge(config)))

    async def _run(self, bridge: Bridge) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await bridge.run(stop)
