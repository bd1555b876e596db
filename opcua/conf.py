"""The OPC UA settings, read once into a typed object so the bridge never touches settings directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

SECURITY_MODES = ("None", "Basic256Sha256")


class OpcuaConfigError(ValueError):
    """The OPC UA settings cannot work; the message says which setting and why."""


@dataclass(frozen=True)
class BridgeConfig:
    server_url: str = ""
    serve: str = ""
    username: str = ""
    password: str = ""
    security: str = "None"
    certificate: str = ""
    private_key: str = ""
    server_certificate: str = ""
    namespace_uri: str = "urn:labmes:opcua"
    allow_control: bool = False
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    poll_interval: float = 0.5
    timeout: float = 4.0

    @property
    def mode(self) -> str:
        if self.server_url:
            return "client"
        if self.serve:
            return "server"
        return ""

    @property
    def endpoint(self) -> str:
        return self.server_url or self.serve

    def validate(self) -> None:
        if self.server_url and self.serve:
            raise OpcuaConfigError(
                "set either OPCUA_SERVER_URL (write into the lab's server) or OPCUA_SERVE (run our own "
                "server), not both"
            )
        for name, url in (("OPCUA_SERVER_URL", self.server_url), ("OPCUA_SERVE", self.serve)):
            if not url:
                continue
            parsed = urlparse(url)
            if parsed.scheme != "opc.tcp" or not parsed.hostname:
                raise OpcuaConfigError(f"{name}={url!r} is not an opc.tcp://host:port URL")
            try:
                parsed.port  # noqa: B018 - raises ValueError on a non-numeric port
            except ValueError:
                raise OpcuaConfigError(f"{name}={url!r} has an invalid port") from None
        if self.security not in SECURITY_MODES:
            raise OpcuaConfigError(
                f"OPCUA_SECURITY={self.security!r}: use one of {', '.join(SECURITY_MODES)}"
            )
        if self.security == "Basic256Sha256":
            for name, path in (
                ("OPCUA_CERTIFICATE", self.certificate),
                ("OPCUA_PRIVATE_KEY", self.private_key),
            ):
                if not path:
                    raise OpcuaConfigError(f"OPCUA_SECURITY=Basic256Sha256 needs {name}")
                if not Path(path).is_file():
                    raise OpcuaConfigError(f"{name}={path!r} does not exist")
        if bool(self.username) != bool(self.password):
            raise OpcuaConfigError("set both OPCUA_USERNAME and OPCUA_PASSWORD, or neither")
        if not self.namespace_uri:
            raise OpcuaConfigError("OPCUA_NAMESPACE_URI must not be empty")
        if self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            raise OpcuaConfigError("OPCUA_BACKOFF_INITIAL must be > 0 and <= OPCUA_BACKOFF_MAX")


def get_config() -> BridgeConfig:
    return BridgeConfig(
        server_url=settings.OPCUA_SERVER_URL,
        serve=settings.OPCUA_SERVE,
        username=settings.OPCUA_USERNAME,
        password=settings.OPCUA_PASSWORD,
        security=settings.OPCUA_SECURITY,
        certificate=settings.OPCUA_CERTIFICATE,
        private_key=settings.OPCUA_PRIVATE_KEY,
        server_certificate=settings.OPCUA_SERVER_CERTIFICATE,
        namespace_uri=settings.OPCUA_NAMESPACE_URI,
        allow_control=settings.OPCUA_ALLOW_CONTROL,
        backoff_initial=settings.OPCUA_BACKOFF_INITIAL,
        backoff_max=settings.OPCUA_BACKOFF_MAX,
        poll_interval=settings.OPCUA_POLL_INTERVAL,
        timeout=settings.OPCUA_TIMEOUT,
    )


def is_configured() -> bool:
    return bool(settings.OPCUA_SERVER_URL or settings.OPCUA_SERVE)
