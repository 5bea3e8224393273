"""Command line: ``tradewatch-collector run --config FILE`` (argparse only; the work is elsewhere)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from collector import __version__
from collector.config import DEFAULT_DATA_TYPES, SIMULATED_EXCHANGES, ConfigError, load_config
from collector.sink.spool import SpoolLockedError

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="tradewatch-collector",
        description="Ships CCXT daemon, exchange, pipeline and trading metrics to QuestDB.",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the collector service until SIGTERM")
    run.add_argument("--config", "-c", type=Path, required=True, help="YAML configuration file")
    run.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override logging.level"
    )

    check = commands.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("--config", "-c", type=Path, required=True)

    fake = commands.add_parser("fake-daemon", help="serve or write a simulated daemon's status (demo)")
    where = fake.add_mutually_exclusive_group(required=True)
    where.add_argument("--serve", metavar="HOST:PORT", help="answer GET requests with the status JSON")
    where.add_argument("--file", type=Path, help="rewrite this status file every --interval seconds")
    fake.add_argument("--interval", type=float, default=1.0)
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--symbols", type=int, default=50, help="symbols per exchange")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "fake-daemon":
        return fake_daemon(args)
    overrides = {"logging": {"level": args.log_level}} if getattr(args, "log_level", None) else {}
    try:
        config = load_config(args.config, **overrides)
    except ConfigError as err:
        print(f"tradewatch-collector: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        summary = f"{len(config.sources)} sources, env {config.env}, QuestDB {config.questdb.addr}"
        print(f"{args.config}: OK ({summary})")
        return 0
    from collector.service.app import run_service

    try:
        return run_service(config)
    except SpoolLockedError as err:
        print(f"tradewatch-collector: {err}", file=sys.stderr)
        return EXIT_RUNTIME


def fake_daemon(args: argparse.Namespace) -> int:
    from collector.sources.fake_daemon import run_file_writer, status_server
    from collector.sources.simulate import SimulatedDaemon

    daemon = SimulatedDaemon(
        seed=args.seed,
        exchanges=SIMULATED_EXCHANGES,
        data_types=DEFAULT_DATA_TYPES,
        symbols_per_exchange=args.symbols,
        tick_seconds=args.interval,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.file is not None:
        with contextlib.suppress(KeyboardInterrupt):
            run_file_writer(daemon, args.file, args.interval, stop)
        return 0
    host, _, port = args.serve.rpartition(":")
    server = status_server(daemon, host or "127.0.0.1", int(port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"fake daemon status on http://{host}:{server.server_address[1]}/status", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
