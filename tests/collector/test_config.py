"""MonitoringConfig: YAML + environment overrides, one clear message per bad field."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import QWP_MESSAGE, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "collector" / "examples" / "collector.yml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.yml"
    path.write_text(text)
    return path


def test_the_example_file_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.questdb.transport == "http"
    assert config.sources


def test_defaults_follow_the_data_model(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "env: prod\n"))
    assert config.batch_size == 500
    assert config.flush_interval_seconds == 1.0
    assert config.exchanges is None  # every well-formed exchange name: the daemon's venues are data
    assert config.data_types == ["oi", "funding", "liquidation"]
    assert config.spool.when_full == "drop_oldest"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "env: dev\nquestdb:\n  addr: db:9000\n  username: writer\n")
    monkeypatch.setenv("TRADEWATCH_COLLECTOR_ENV", "staging")
    monkeypatch.setenv("TRADEWATCH_COLLECTOR_QUESTDB__PASSWORD", "s3cret;x")
    monkeypatch.setenv("TRADEWATCH_COLLECTOR_EXCHANGES", '["kraken"]')
    config = load_config(path)
    assert config.env == "staging"
    assert config.questdb.addr == "db:9000"  # kept from the file
    assert config.questdb.username == "writer"
    assert config.exchanges == ["kraken"]
    conf = config.questdb.conf_string()
    assert conf.startswith("http::addr=db:9000;")
    assert "password=s3cret;;x;" in conf  # ';' escaped for the client
    assert "s3cret" not in repr(config)


def test_one_message_per_bad_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
env: Production
batch_size: 0
flush_interval_seconds: -1
questdb:
  addr: "no-port"
  password: "hunter2"
  request_timeout_ms: "soon"
spool:
  when_full: block
sources:
  - type: http
    url: "ftp://daemon"
  - type: carrier-pigeon
typo_key: 1
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    fields = [p.split(":", 1)[0] for p in problems]
    assert fields == [
        "env",
        "batch_size",
        "flush_interval_seconds",
        "questdb.addr",
        "questdb.request_timeout_ms",
        "spool.when_full",
        "sources.0.url",
        "sources.1",
        "typo_key",
    ]
    assert str(path) in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "'Production'" in problems[0]


def test_qwp_is_rejected_with_a_clear_message(tmp_path: Path) -> None:
    for transport in ("qwp", "ws", "wss"):
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, f"questdb:\n  transport: {transport}\n"))
        assert caught.value.problems[0].startswith(f"questdb.transport: {QWP_MESSAGE}")
    with pytest.raises(ConfigError, match="must be one of http, https"):
        load_config(write(tmp_path, "questdb:\n  transport: tcp\n"))


def test_https_options(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "questdb:\n  transport: https\n  tls_verify: false\n  token: abc\n  protocol_version: '2'\n",
        )
    )
    conf = config.questdb.conf_string()
    assert conf.startswith("https::")
    assert "tls_verify=unsafe_off;" in conf
    assert "token=abc;" in conf
    assert "protocol_version=2;" in conf


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("env: [unclosed\n", "not valid YAML"),
    ],
)
def test_unusable_files(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.yml")


def test_simulate_source_and_faults(tmp_path: Path) -> None:
    text = """
sources:
  - type: simulate
    seed: 3
    start: "2025-01-01T00:00:00Z"
    ticks: 10
    faults:
      - {kind: exchange_disconnect, exchange: okx, start_tick: 2, duration_ticks: 3}
"""
    spec = load_config(write(tmp_path, text)).sources[0]
    assert spec.type == "simulate"
    assert spec.faults[0].kind == "exchange_disconnect"
    with pytest.raises(ConfigError, match=r"sources\.0\.faults\.0\.kind"):
        load_config(
            write(tmp_path, "sources:\n  - {type: simulate, faults: [{kind: meteor, start_tick: 1}]}\n")
        )
