"""Typed settings (pydantic-settings): the one module that reads the environment."""

from imagehub.core.config.settings import (
    Settings,
    ensure_data_dir,
    load_settings,
    resolve_secret_key,
)

__all__ = ["Settings", "ensure_data_dir", "load_settings", "resolve_secret_key"]
