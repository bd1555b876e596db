"""The bridge's health for /api/health/ (wired in mes.health) and the admin."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from mes.health import Check
from opcua import selectors
from opcua.conf import get_config, is_configured

# The running bridge writes a heartbeat every 5 s; three missed ones mean it is not running.
STALE_AFTER = timedelta(seconds=20)


def check_opcua() -> Check:
    if not is_configured():
        return Check(True, "not configured", {"configured": False})
    config = get_config()
    status = selectors.bridge_status()
    extra = {
        "configured": True,
        "mode": config.mode,
        "endpoint": config.endpoint,
        "pending": selectors.outbox_pending_count(),
        "connected": bool(status and status.connected),
        "last_delivery_at": status.last_delivery_at.isoformat()
        if status and status.last_delivery_at
        else None,
        "last_error": status.last_error if status else "",
        "last_error_at": status.last_error_at.isoformat() if status and status.last_error_at else None,
    }
    if status is None or status.heartbeat_at is None or timezone.now() - status.heartbeat_at > STALE_AFTER:
        return Check(False, "bridge not running (manage.py opcua_bridge)", extra)
    if not status.connected:
        return Check(False, status.last_error or "not connected", extra)
    verb = "serving on" if config.mode == "server" else "connected to"
    return Check(True, f"{verb} {config.endpoint}", extra)
