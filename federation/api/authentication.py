"""Signature authentication and scope permissions for partner labs' requests.

Every partner request must carry a valid RFC 9421 signature by a key the partner publishes; the
nonce is recorded so a replay is refused. The partner becomes ``request.auth.partner``; refusals
are 401 (signature), 409 (replay) or 403 (stopped, not approved, scope not granted) with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication
from rest_framework.throttling import AnonRateThrottle

from federation.identity import public_key_from_text
from federation.models import Partner
from federation.selectors import partner_for_key_id
from federation.services.connections import partner_refresh_keys
from federation.services.nonces import nonce_record
from federation.signing import SignatureRejected, VerifiedSignature, verify_request


class FederationRefused(exceptions.APIException):
    """A refusal with its own status code and a machine-readable ``code`` next to the reason."""

    def __init__(self, reason: str, *, status: int, code: str) -> None:
        self.status_code = status
        super().__init__(detail=reason, code=code)


def refused(exc: SignatureRejected) -> FederationRefused:
    return FederationRefused(exc.reason, status=exc.status, code=exc.code)


@dataclass
class PartnerPrincipal:
    """``request.user`` for a partner lab: authenticated, never staff."""

    partner: Partner
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self):
        return None

    def __str__(self) -> str:
        return f"partner lab {self.partner.name}"


@dataclass(frozen=True)
class PartnerAuth:
    partner: Partner
    signature: VerifiedSignature


def request_url(request) -> str:
    """The URL the sender signed: our public base URL (behind a proxy) plus the path and query."""
    if settings.FEDERATION_BASE_URL:
        return settings.FEDERATION_BASE_URL + request.get_full_path()
    return request.build_absolute_uri()


def verify_django_request(request, *, resolve_key) -> VerifiedSignature:
    """Verify a Django/DRF request's signature and record its nonce (raises SignatureRejected)."""
    django_request = getattr(request, "_request", request)
    signature = verify_request(
        method=django_request.method,
        url=request_url(django_request),
        headers=dict(django_request.headers),
        body=django_request.body,
        resolve_key=resolve_key,
    )
    nonce_record(signature=signature)
    return signature


class SignatureAuthentication(BaseAuthentication):
    def authenticate(self, request):
        headers = request._request.headers
        if "Signature-Input" not in headers:
            raise FederationRefused(
                "This endpoint is for partner labs: sign the request (RFC 9421 HTTP Message Signatures).",
                status=401,
                code="missing_signature",
            )
        found: dict = {}

        def resolve(key_id: str):
            partner = partner_for_key_id(key_id=key_id)
            if partner is None:
                return None
            if key_id not in partner.keys:
                partner = partner_refresh_keys(partner=partner)
            found["partner"] = partner
            text = partner.keys.get(key_id)
            return public_key_from_text(text) if text else None

        try:
            signature = verify_django_request(request, resolve_key=resolve)
        except SignatureRejected as exc:
            raise refused(exc) from exc
        partner = found["partner"]
        if partner.is_stopped:
            raise FederationRefused(
                "Federation between our labs has been stopped; every request is refused.",
                status=403,
                code="partner_stopped",
            )
        return PartnerPrincipal(partner=partner), PartnerAuth(partner=partner, signature=signature)

    def authenticate_header(self, request) -> str:
        return 'Signature realm="lab-mes-federation"'


class SignatureScheme(OpenApiAuthenticationExtension):
    target_class = "federation.api.authentication.SignatureAuthentication"
    name = "httpMessageSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Signature",
            "description": "RFC 9421 signature (ed25519) over @method, @target-uri, content-digest "
            "[, idempotency-key], with created, expires, nonce and keyid; see docs/federation.md.",
        }


class PartnerHasScope(permissions.BasePermission):
    """The view's ``federation_scope`` must be granted to an approved partner."""

    def has_permission(self, request, view) -> bool:
        auth = request.auth
        if not isinstance(auth, PartnerAuth):
            return False
        partner = auth.partner
        if partner.state != Partner.State.APPROVED:
            raise FederationRefused(
                f"Your connection request is {partner.get_state_display().lower()}, not approved.",
                status=403,
                code="partner_not_approved",
            )
        scope = getattr(view, "federation_scope", None)
        if scope is None or scope not in partner.scopes:
            raise FederationRefused(
                f"This lab did not grant you the scope {scope!r}.", status=403, code="scope_not_granted"
            )
        return True


class IsPartner(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, PartnerAuth)


class ConnectionRequestThrottle(AnonRateThrottle):
    scope = "federation_connect"

    def get_rate(self) -> str:
        return settings.FEDERATION_CONNECT_RATE
