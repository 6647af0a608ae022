"""Settings: defaults, environment, TOML file, secrets and one-line errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from imagehub.core.config import Settings, ensure_data_dir, load_settings, resolve_secret_key
from imagehub.core.db.engine import make_engine
from imagehub.core.errors import ConfigError
from imagehub.core.redact import masked_url
from imagehub.core.storage import open_store


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("IMAGEHUB_DATA_DIR", "IMAGEHUB_DATABASE_URL", "IMAGEHUB_STORAGE_URL", "IMAGEHUB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_embedded_sqlite_and_local_disk_under_var(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.resolved_data_dir == tmp_path / "var"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'var' / 'imagehub.db'}"
    assert settings.effective_storage_url == (tmp_path / "var" / "objects").as_uri()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMAGEHUB_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("IMAGEHUB_STORAGE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("IMAGEHUB_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = load_settings()
    assert settings.resolved_data_dir == tmp_path / "elsewhere"
    assert settings.effective_storage_url == "s3://bucket/prefix"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"


def test_toml_file_is_read_and_env_wins_over_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('port = 9100\nhost = "0.0.0.0"\ndata_dir = "/srv/imagehub"\n')
    monkeypatch.setenv("IMAGEHUB_CONFIG", str(config))
    monkeypatch.setenv("IMAGEHUB_PORT", "9200")
    settings = load_settings()
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == Path("/srv/imagehub")
    assert settings.port == 9200


def test_cors_origins_are_a_comma_separated_list_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings().cors_origins == []
    (tmp_path / "imagehub.toml").write_text('cors_origins = ["https://a.example"]\n')
    assert load_settings().cors_origins == ["https://a.example"]
    monkeypatch.setenv("IMAGEHUB_CORS_ORIGINS", "https://viewer.example, https://ohif.example")
    assert load_settings().cors_origins == ["https://viewer.example", "https://ohif.example"]


def test_default_toml_in_working_directory(tmp_path: Path) -> None:
    (tmp_path / "imagehub.toml").write_text("port = 8123\n")
    assert load_settings().port == 8123


def test_missing_named_config_file_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEHUB_CONFIG", "/no/such/file.toml")
    with pytest.raises(ConfigError, match="not a readable file"):
        load_settings()


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEHUB_PORT", "99999")
    with pytest.raises(ConfigError, match="port"):
        load_settings()


def test_secret_key_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = resolve_secret_key(settings)
    second = resolve_secret_key(Settings(data_dir=tmp_path / "d"))
    assert first == second
    assert len(first) >= 32
    mode = (tmp_path / "d" / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_placeholder_secret_refused_in_production(tmp_path: Path) -> None:
    settings = Settings(environment="production", data_dir=tmp_path, secret_key="changeme")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="placeholder"):
        resolve_secret_key(settings)


def test_unwritable_data_dir_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="not writable"):
        ensure_data_dir(Settings(data_dir=blocker / "var"))


@pytest.mark.parametrize("url", ["ftp://host/x", "bucket/prefix", "s3:///no-bucket", "file://remote-host/x"])
def test_bad_storage_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("s3://AKID:TopSecret99@bucket/store", None),
        ("s3://bucket/store", "http://minio:TopSecret99@host:9000"),
    ],
)
def test_s3_credentials_in_a_url_are_refused_without_showing_them(url: str, endpoint: str | None) -> None:
    with pytest.raises(ConfigError, match="credentials do not belong in a URL") as refused:
        open_store(url, Settings(s3_endpoint_url=endpoint))
    assert "TopSecret99" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAGEHUB_SESSION_HOURS", "nan"),
        ("IMAGEHUB_SESSION_HOURS", "-5"),
        ("IMAGEHUB_LOGIN_ATTEMPTS_PER_MINUTE", "0"),
        ("IMAGEHUB_PIPELINE_BATCH_SIZE", "0"),
        ("IMAGEHUB_RAY_NUM_CPUS", "0"),
        ("IMAGEHUB_MAX_UPLOAD_BYTES", "-1"),
        ("IMAGEHUB_AUDIT_RETENTION_DAYS", "-3"),
    ],
)
def test_numbers_that_would_break_the_server_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name.removeprefix("IMAGEHUB_").lower()):
        load_settings()


def test_an_unreadable_settings_file_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "bad.toml"
    broken.write_text("port = \n")
    monkeypatch.setenv("IMAGEHUB_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="cannot read the settings file"):
        load_settings()


def test_an_empty_secret_file_is_refused_not_used(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    ensure_data_dir(settings)
    (tmp_path / "d" / "secret_key").write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secret_key(settings)


@pytest.mark.parametrize(
    "url",
    [
        "postgres ql://admin:TopSecret@db/x",
        "postgresql://admin:TopSecret@db:notaport/x",
        "postgresql+asyncpg://a:TopSecret@db/x",
    ],
)
def test_bad_database_urls_are_named_without_their_password(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make_engine(url)
    assert "TopSecret" not in str(refused.value)


def test_bad_s3_settings_are_one_clear_error() -> None:
    settings = Settings(storage_url="s3://bucket/p", s3_endpoint_url="localhost:5005")
    with pytest.raises(ConfigError, match="S3 settings"):
        open_store("s3://bucket/p", settings)
    assert "TopSecret" not in masked_url("file://admin:TopSecret@host/x")
