"""The one settings object. Every service reads its configuration through :func:`load_settings`.

Settings come from ``FANFARE_*`` environment variables; nothing is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

LogFormat = Literal["json", "console", "auto"]


class SettingsError(ValueError):
    """A setting is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration shared by every Fanfare process.

    Each field maps to the environment variable ``FANFARE_<FIELD NAME IN UPPER CASE>``.
    """

    database_url: str = ""
    redis_url: str = ""
    nats_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_keep_alive_seconds: int = 75
    log_level: str = "info"
    log_format: LogFormat = "auto"
    service_name: str = "fanfare"
    database_pool_min: int = 1
    database_pool_max: int = 10
    outbox_poll_seconds: float = 1.0
    #: Whether this process runs an outbox relay. Any relay publishes every service's
    #: events, so a deployment may leave relaying to the workers (see docs/configuration.md).
    outbox_relay: bool = True
    token_issuer: str = "fanfare"  # noqa: S105 - the tokens' iss claim, not a secret
    access_token_seconds: int = 3600
    refresh_token_seconds: int = 30 * 24 * 3600
    exchange_code_seconds: int = 120
    signing_key_refresh_seconds: float = 30.0
    api_key_cache_seconds: float = 30.0
    unknown_api_key_cache_seconds: float = 5.0
    session_revocation_recheck_seconds: float = 30.0
    enter_limit_per_consumer: int = 30
    enter_limit_per_address: int = 600
    queue_cache_seconds: float = 30.0
    draw_claim_seconds: int = 86400
    stream_replicas: int = 1
    trusted_proxies: str = "127.0.0.1,::1"

    def require_infrastructure(self) -> None:
        """Raise :class:`SettingsError` unless the three server URLs are configured."""
        missing = [
            f"FANFARE_{name.upper()}"
            for name in ("database_url", "redis_url", "nats_url")
            if not getattr(self, name)
        ]
        if missing:
            raise SettingsError(f"missing settings: {', '.join(missing)}")


def env_name(field_name: str) -> str:
    """The environment variable that sets ``field_name``."""
    return f"FANFARE_{field_name.upper()}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``), then ``overrides``."""
    source = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in fields(Settings):
        raw = source.get(env_name(field.name))
        if raw is None or raw == "":
            continue
        values[field.name] = _convert(field.name, field.type, raw)
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.log_format not in ("json", "console", "auto"):
        raise SettingsError(f"{env_name('log_format')} must be json, console or auto")
    for name in _POSITIVE:
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{env_name(name)} must be positive")
    return settings


_POSITIVE = (
    "http_keep_alive_seconds",
    "access_token_seconds",
    "refresh_token_seconds",
    "exchange_code_seconds",
    "signing_key_refresh_seconds",
    "session_revocation_recheck_seconds",
    "stream_replicas",
)


def _convert(name: str, annotation: object, raw: str) -> object:
    kind = str(annotation)
    if kind == "bool":
        flag = raw.strip().lower()
        if flag in ("1", "true", "yes", "on"):
            return True
        if flag in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{env_name(name)}={raw!r} is not true or false")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as error:
        raise SettingsError(f"{env_name(name)}={raw!r} is not a number") from error
    return raw


def service_settings(
    service_name: str, default_port: int, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings of one service: its name, and its HTTP port unless ``FANFARE_HTTP_PORT`` is set."""
    source = dict(os.environ if environ is None else environ)
    source.setdefault(env_name("service_name"), service_name)
    source.setdefault(env_name("http_port"), str(default_port))
    return load_settings(source)
