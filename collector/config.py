"""MonitoringConfig: a YAML file plus environment overrides, validated with pydantic-settings.

Environment variables override the file: ``TRADEWATCH_COLLECTOR_<KEY>``, nested keys joined by
``__`` (``TRADEWATCH_COLLECTOR_QUESTDB__PASSWORD``), lists and mappings as JSON. An invalid file
raises :class:`ConfigError` with one message per bad field. See collector/README.md for every key.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from collector.models import MAX_SYMBOL_LEN, Env

ENV_PREFIX = "TRADEWATCH_COLLECTOR_"
# The exchanges of the simulator (demo, tests, benchmarks). The collector accepts every well-formed
# exchange name unless the configuration's `exchanges` restricts them.
SIMULATED_EXCHANGES = ("binance", "bybit", "okx", "dydx")
DEFAULT_DATA_TYPES = ("oi", "funding", "liquidation")
SUPPORTED_TRANSPORTS = ("http", "https")
QWP_MESSAGE = (
    "QWP/WebSocket ingestion needs QuestDB 10 or newer and is not shipped: this collector only has a "
    "tested ILP-over-HTTP(S) path (with its own disk spool). Use 'http' or 'https'"
)
_ADDR = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]*$")

PositiveSeconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_SYMBOL_LEN, pattern=_NAME.pattern)]


def _check_addr(value: str) -> str:
    match = _ADDR.match(value)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError("must be HOST:PORT with a port between 1 and 65535")
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestDBSettings(Section):
    transport: str = "http"
    addr: str = "localhost:9000"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    tls_verify: bool = True
    tls_ca: Path | None = None
    protocol_version: Literal["auto", "1", "2", "3"] = "auto"
    request_timeout_ms: int = Field(default=5_000, ge=100, le=600_000)
    request_min_throughput: int = Field(default=102_400, ge=0)

    @field_validator("transport")
    @classmethod
    def _transport(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("qwp", "ws", "wss", "websocket"):
            raise ValueError(QWP_MESSAGE)
        if value not in SUPPORTED_TRANSPORTS:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_TRANSPORTS)}")
        return value

    @field_validator("addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        return _check_addr(value)

    def conf_string(self) -> str:
        """The questdb client configuration string (ILP over HTTP; our own retries, no auto-flush)."""

        def esc(value: str) -> str:
            return value.replace(";", ";;")

        parts = [
            f"addr={esc(self.addr)}",
            "auto_flush=off",
            "retry_timeout=0",
            f"request_timeout={self.request_timeout_ms}",
            f"request_min_throughput={self.request_min_throughput}",
            f"protocol_version={self.protocol_version}",
        ]
        if self.username:
            parts.append(f"username={esc(self.username)}")
        if self.password is not None:
            parts.append(f"password={esc(self.password.get_secret_value())}")
        if self.token is not None:
            parts.append(f"token={esc(self.token.get_secret_value())}")
        if self.transport == "https":
            parts.append(f"tls_verify={'on' if self.tls_verify else 'unsafe_off'}")
            if self.tls_ca is not None:
                parts.append(f"tls_roots={esc(str(self.tls_ca))}")
        return f"{self.transport}::" + ";".join(parts) + ";"


class RetrySettings(Section):
    initial_backoff_seconds: PositiveSeconds = 0.1
    max_backoff_seconds: PositiveSeconds = 5.0


class SpoolSettings(Section):
    dir: Path = Path("/var/lib/tradewatch-collector/spool")
    max_bytes: int = Field(default=1 << 30, ge=1 << 16)
    when_full: Literal["drop_oldest", "reject_new"] = "drop_oldest"
    fsync: Literal["never", "interval", "always"] = "interval"
    fsync_interval_seconds: PositiveSeconds = 1.0
    dead_letter_file: Path | None = None

    def dead_letter_path(self) -> Path:
        return self.dead_letter_file or self.dir / "dead-letter.jsonl"


class HttpSourceConfig(Section):
    type: Literal["http"]
    name: Name = "daemon"
    url: str = Field(pattern=r"^https?://\S+$")
    timeout_seconds: PositiveSeconds = 2.0
    pid_file: Path | None = None


class FileSourceConfig(Section):
    type: Literal["file"]
    name: Name = "daemon"
    path: Path
    stale_after_seconds: PositiveSeconds = 15.0
    pid_file: Path | None = None


class QueueSourceConfig(Section):
    """The status channel the daemon's hook writes into (collector.channel): the production path."""

    type: Literal["queue"]
    name: Name = "daemon"
    path: Path = Path("/var/lib/tradewatch-status")
    stale_after_seconds: PositiveSeconds = 5.0


class HookConfig(Section):
    """The hook in the daemon's process (collector.attach): where and how often it queues its status."""

    queue_dir: Path = Path("/var/lib/tradewatch-status")
    interval_seconds: PositiveSeconds = 1.0
    max_documents: int = Field(default=3600, ge=1, le=1_000_000)


FaultKind = Literal["daemon_stop", "exchange_disconnect", "latency_spike", "data_gap", "error_burst"]


class FaultConfig(Section):
    kind: FaultKind
    start_tick: int = Field(ge=0)
    duration_ticks: int = Field(default=1, ge=1)
    exchange: str | None = None
    symbol: str | None = None
    data_type: str | None = None
    factor: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    errors_per_tick: int = Field(default=5, ge=0)


class SimulateSourceConfig(Section):
    type: Literal["simulate"]
    name: Name = "simulate"
    seed: int = 0
    host: Name | None = None
    exchanges: list[Name] | None = None
    data_types: list[Name] | None = None
    symbols_per_exchange: int = Field(default=50, ge=1, le=5_000)
    strategies: int = Field(default=2, ge=0, le=100)
    start: AwareDatetime | None = None
    tick_seconds: PositiveSeconds = 1.0
    ticks: int | None = Field(default=None, ge=0)
    state_file: Path | None = None
    faults: list[FaultConfig] = Field(default_factory=list)


SourceConfig = Annotated[
    HttpSourceConfig | FileSourceConfig | QueueSourceConfig | SimulateSourceConfig,
    Field(discriminator="type"),
]


class ProbeConfig(Section):
    exchange: Name
    url: str = Field(pattern=r"^https?://\S+$")
    interval_seconds: PositiveSeconds = 10.0
    timeout_seconds: PositiveSeconds = 2.0


class MetricsEndpoint(Section):
    enabled: bool = True
    listen: str = "127.0.0.1:9108"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_addr(value)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class ServiceSettings(Section):
    shutdown_timeout_seconds: PositiveSeconds = 10.0
    exit_when_sources_exhausted: bool = False


class MonitoringConfig(BaseSettings):
    """The collector's whole configuration (file keys are the field names below)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True, case_sensitive=False
    )

    env: Env = "dev"
    host: Name = Field(default_factory=socket.gethostname)
    exchanges: list[Name] | None = Field(default=None, min_length=1)  # None: any well-formed name
    data_types: list[Name] = Field(default_factory=lambda: list(DEFAULT_DATA_TYPES), min_length=1)
    max_clock_skew_seconds: float = Field(default=5.0, ge=0, le=3_600, allow_inf_nan=False)
    poll_interval_seconds: PositiveSeconds = 1.0
    batch_size: int = Field(default=500, ge=1, le=1_000_000)
    flush_interval_seconds: PositiveSeconds = 1.0
    max_request_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    self_metrics_interval_seconds: PositiveSeconds = 10.0
    questdb: QuestDBSettings = QuestDBSettings()
    retry: RetrySettings = RetrySettings()
    spool: SpoolSettings = SpoolSettings()
    sources: list[SourceConfig] = Field(default_factory=list)
    probes: list[ProbeConfig] = Field(default_factory=list)
    metrics: MetricsEndpoint = MetricsEndpoint()
    logging: LoggingSettings = LoggingSettings()
    service: ServiceSettings = ServiceSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)


class ConfigError(Exception):
    """An unusable configuration: one readable problem per bad field."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = problems
        super().__init__(f"invalid configuration in {origin}:\n" + "\n".join(f"  - {p}" for p in problems))


_SECRET_FIELDS = {"password", "token"}


def format_errors(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        # Drop the discriminator tag pydantic adds to tagged-union locations (sources.0.http.url).
        if len(loc) >= 3 and loc[0] == "sources" and loc[2] in ("http", "file", "simulate"):
            del loc[2]
        where = ".".join(loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] != "missing" and not _SECRET_FIELDS.intersection(loc):
            shown = repr(item.get("input"))
            message += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
        problems.append(f"{where}: {message}")
    return problems


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [f"cannot read the file: {err}"]) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(str(path), [f"not valid YAML: {err}"]) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"the top level must be a mapping of keys, not {type(data).__name__}"])
    return data


def load_config(path: Path | str | None = None, **overrides: Any) -> MonitoringConfig:
    """Read ``path`` (YAML), apply ``overrides`` then the environment; raise ConfigError when invalid."""
    data: dict[str, Any] = read_yaml(Path(path)) if path is not None else {}
    data.update(overrides)
    origin = str(path) if path is not None else "(defaults)"
    env_keys = sorted(key for key in os.environ if key.upper().startswith(ENV_PREFIX))
    if env_keys:
        origin += " with environment overrides " + ", ".join(env_keys)
    try:
        return MonitoringConfig(**data)
    except ValidationError as err:
        raise ConfigError(origin, format_errors(err)) from None


def config_from_mapping(data: Mapping[str, Any]) -> MonitoringConfig:
    """Validate an in-memory mapping (used by attach() and tests); same errors as load_config."""
    try:
        return MonitoringConfig(**dict(data))
    except ValidationError as err:
        raise ConfigError("(mapping)", format_errors(err)) from None
