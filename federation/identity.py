"""This lab's federation identity: instance id and Ed25519 keys.

Private keys are PEM files with mode 0600 in ``FEDERATION_KEY_DIR`` so that database dumps and the
API can never leak them; the database holds only public keys. Keys are created lazily on first use.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from federation.models import LocalInstance, LocalKey

KEY_ID_SEPARATOR = "/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_from_text(text: str) -> ed25519.Ed25519PublicKey:
    """Load a published raw Ed25519 key; raises ValueError when it is not one."""
    raw = b64url_decode(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def key_dir() -> Path:
    path = Path(settings.FEDERATION_KEY_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def local_instance() -> LocalInstance:
    instance, _ = LocalInstance.objects.get_or_create(pk=1)
    return instance


def full_key_id(kid: str) -> str:
    """The key id as partners see it: ``<instance uuid>/<kid>``, unique across labs."""
    return f"{local_instance().instance_id}{KEY_ID_SEPARATOR}{kid}"


def split_key_id(key_id: str) -> tuple[str, str]:
    instance_id, sep, kid = key_id.partition(KEY_ID_SEPARATOR)
    if not sep or not kid:
        raise ValueError(f"key id {key_id!r} is not '<instance id>/<key>'")
    return instance_id, kid


def _private_key_path(kid: str) -> Path:
    return key_dir() / f"{kid}.pem"


def local_key_create() -> LocalKey:
    """Generate a key pair; the private half goes to a new 0600 file, never to the database."""
    private = ed25519.Ed25519PrivateKey.generate()
    kid = f"{timezone.now():%Y%m%d}-{secrets.token_hex(4)}"
    pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    fd = os.open(_private_key_path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = private.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return LocalKey.objects.create(kid=kid, public_key=b64url(public))


def published_keys() -> list[LocalKey]:
    """Keys partners may verify against, newest first; creates the first key when there is none."""
    keys = list(LocalKey.objects.filter(retired_at__isnull=True))
    if not keys:
        keys = [local_key_create()]
    return keys


def current_signing_key() -> tuple[str, ed25519.Ed25519PrivateKey]:
    """The newest published key: its full key id and the private key loaded from disk."""
    key = published_keys()[0]
    path = _private_key_path(key.kid)
    if not path.is_file():
        raise ImproperlyConfigured(
            f"Federation private key {key.kid} is missing from {key_dir()}; restore the key directory "
            "or run `manage.py federation_rotate_key --retire-old` to start with a new key."
        )
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} does not hold an Ed25519 private key")
    return full_key_id(key.kid), private


def local_key_rotate(*, retire_old: bool = False) -> LocalKey:
    """Publish a new signing key. Old keys stay published (partners still verify in-flight
    requests) unless ``retire_old``; retired private key files are deleted."""
    new_key = local_key_create()
    if retire_old:
        old = list(LocalKey.objects.filter(retired_at__isnull=True).exclude(pk=new_key.pk))
        for key in old:
            key.retired_at = timezone.now()
            key.save(update_fields=["retired_at"])
            _private_key_path(key.kid).unlink(missing_ok=True)
    return new_key


def base_url(request=None) -> str:
    """This lab's public base URL: FEDERATION_BASE_URL, else the host the request came to."""
    configured = settings.FEDERATION_BASE_URL
    if configured:
        return configured.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    raise ImproperlyConfigured(
        "FEDERATION_BASE_URL is not set; partner labs need it to reach this lab (e.g. https://mes.example.org)"
    )


def well_known_document(request=None) -> dict:
    """What /.well-known/lab-mes publishes."""
    root = base_url(request)
    api = f"{root}/api/federation/v1"
    return {
        "software": "lab-mes",
        "version": settings.SPECTACULAR_SETTINGS["VERSION"],
        "federation_version": 1,
        "instance_id": str(local_instance().instance_id),
        "name": settings.MES_SITE_NAME,
        "api_base_url": f"{api}/",
        "inbox_url": f"{api}/inbox/",
        "connect_url": f"{api}/connection-requests/",
        "discoverable": settings.FEDERATION_DISCOVERABLE,
        "keys": [
            {
                "keyid": full_key_id(key.kid),
                "alg": "ed25519",
                "public_key": key.public_key,
                "created_at": key.created_at.isoformat(),
            }
            for key in published_keys()
        ],
    }
