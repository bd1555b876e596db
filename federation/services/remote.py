"""Reads from a partner lab (lab A asking lab B), signed like every federation request."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from federation.client import signed_request
from federation.models import Partner

REMOTE_RESOURCES = {"machines": ("machines/", "machines:read"), "stats": ("stats/", "stats:read")}


@dataclass(frozen=True)
class RemoteAnswer:
    status: int
    data: object
    etag: str = ""


def partner_remote_get(
    *, partner: Partner, resource: str, etag: str = "", check_grant: bool = True
) -> RemoteAnswer:
    """GET a partner's machines or stats. With ``check_grant`` we do not even ask when the partner is
    stopped or did not grant the scope; without it the partner's own answer (e.g. 403) comes back."""
    if resource not in REMOTE_RESOURCES:
        raise ValidationError({"resource": f"Choose one of {sorted(REMOTE_RESOURCES)}."})
    path, scope = REMOTE_RESOURCES[resource]
    if check_grant:
        if partner.is_stopped:
            raise ValidationError(f"Federation with {partner} is stopped.")
        if partner.outbound_state != Partner.OutboundState.APPROVED or scope not in partner.outbound_scopes:
            raise ValidationError(f"{partner} has not granted us {scope}.")
    response = signed_request("GET", f"{partner.api_base_url.rstrip('/')}/{path}", etag=etag)
    try:
        data = response.json() if response.content else None
    except ValueError:
        data = response.text[:500]
    return RemoteAnswer(status=response.status_code, data=data, etag=response.headers.get("ETag", ""))
