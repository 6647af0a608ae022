"""Typed settings, the single place where ImageHub reads its environment.

Sources, strongest first: keyword arguments, ``IMAGEHUB_*`` environment variables,
the TOML file named by ``IMAGEHUB_CONFIG`` (else ``./imagehub.toml`` when present),
then defaults. Everything defaults to the embedded set-up: SQLite and local disk
under ``./var``.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from imagehub.core.errors import ConfigError
from imagehub.core.secret_files import kept_secret

CONFIG_FILE_ENV = "IMAGEHUB_CONFIG"
DEFAULT_CONFIG_FILE = Path("imagehub.toml")
SECRET_KEY_FILE = "secret_key"
_PLACEHOLDER_SECRETS = {"", "changeme", "secret", "change-me"}


def config_file_path() -> Path | None:
    """The TOML file to read, or None when there is none to read."""
    named = os.environ.get(CONFIG_FILE_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV} names {path}, which is not a readable file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


class Settings(BaseSettings):
    """Every knob ImageHub has; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="IMAGEHUB_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./var")
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: float = Field(12.0, gt=0, le=24 * 365)
    cookie_secure: bool | None = None  # default: on in production
    login_attempts_per_minute: int = Field(10, ge=1)
    max_upload_bytes: int = Field(5 * 1024**3, ge=1)
    audit_retention_days: int | None = Field(None, ge=1, le=36_500)  # None keeps the audit trail forever
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    compute: Literal["ray", "local"] = "ray"  # where per-instance pipeline work runs
    ray_address: str | None = None  # None: RAY_ADDRESS if set, else a local Ray
    ray_num_cpus: int | None = Field(None, ge=1)  # local Ray only; None: every core
    ray_object_store_mb: int = Field(512, ge=75)  # local Ray only; Ray takes no less than 75 MiB
    pipeline_batch_size: int = Field(64, ge=1)  # instances per Ray task
    # The URL clients reach this server at, for the absolute URLs in answers (DICOMweb's
    # RetrieveURL and BulkDataURI, clone commands, release links). None: the request's Host,
    # which some clients (dicomweb-client) send without the port.
    public_url: str | None = None
    # Web origins (https://viewer.example.org, or *) whose pages may call the DICOMweb routes
    # across origins, with a bearer token; comma-separated in the environment. None by default.
    cors_origins: Annotated[list[str], NoDecode] = []
    dagster_url: str = "http://127.0.0.1:3000"  # the Dagster UI the portal links into
    webhook_poll_seconds: float = 2.0  # how often the server sends due webhook deliveries; <= 0: never
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300)  # per delivery attempt, all of it
    webhook_max_attempts: int = Field(8, ge=1, le=100)  # then a delivery is marked failed
    webhook_backoff_seconds: float = Field(10.0, ge=0, le=86_400)  # after the first failure, then doubled
    webhook_backoff_cap_seconds: float = Field(3600.0, ge=0, le=7 * 86_400)  # longest wait between two
    webhook_senders: int = Field(4, ge=1, le=64)  # deliveries sent at once, so one slow receiver holds one
    # let hooks reach loopback, private, link-local... addresses: intranet receivers; tests on loopback
    webhook_allow_private_networks: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @field_validator("host")
    @classmethod
    def _host_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("host is empty: name an address (0.0.0.0 or :: to listen on every interface)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_listed(cls, value: object) -> object:
        """``a, b`` from the environment; a list from TOML or code."""
        return (
            [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value
        )

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError("port must be between 1 and 65535")
        return value

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        """The configured database, else SQLite inside the data directory."""
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'imagehub.db'}"

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.environment == "production"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def effective_storage_url(self) -> str:
        """The configured object store, else a folder inside the data directory."""
        return self.storage_url or (self.resolved_data_dir / "objects").as_uri()


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory, or say in one line why it cannot be used."""
    path = settings.resolved_data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"data directory {path} is not writable ({exc.strerror or exc})") from exc
    return path


def resolve_secret_key(settings: Settings) -> str:
    """The configured secret, or one generated once and kept in the data directory.

    Production refuses to start on a placeholder, so a copied example config never
    signs real sessions.
    """
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if settings.environment == "production" and value.lower() in _PLACEHOLDER_SECRETS:
            raise ConfigError("IMAGEHUB_SECRET_KEY is a placeholder; set a real secret in production")
        if not value:
            raise ConfigError("IMAGEHUB_SECRET_KEY is empty")
        return value
    return kept_secret(ensure_data_dir(settings) / SECRET_KEY_FILE, what="secret key", random_bytes=48)


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one readable ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"cannot read the settings file {config_file_path()}: {exc}") from None
