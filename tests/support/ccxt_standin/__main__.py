"""``python -m ccxt_standin``: the stand-in daemon as a service, attached to the tradewatch hook the way
an operator attaches the real one (the three marked lines; collector/README.md). SIGTERM and SIGINT
request a shutdown, as a process manager would; the hook's last document then says the daemon stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from .daemon import FETCH_RETRY_CONFIG, DaemonRunner


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ccxt-standin", description=__doc__)
    parser.add_argument("-s", "--symbol", action="append", default=[])
    parser.add_argument("-e", "--exchange", action="append", default=[])
    parser.add_argument("--oi-interval", type=float, default=5.0, help="minutes")
    parser.add_argument("--funding-interval", type=float, default=60.0, help="minutes")
    parser.add_argument("--retry-base-delay", type=float, default=FETCH_RETRY_CONFIG.base_delay)
    parser.add_argument("--hook-config", default="/etc/tradewatch/daemon-hook.yml")
    return parser.parse_args(argv)


async def serve(runner: DaemonRunner) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, runner.request_shutdown)
    await runner.run_forever()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    FETCH_RETRY_CONFIG.base_delay = args.retry_base_delay
    runner = DaemonRunner(
        symbols=args.symbol or None,
        exchanges=args.exchange or None,
        oi_interval_minutes=args.oi_interval,
        funding_interval_minutes=args.funding_interval,
    )
    # --- the tradewatch hook: these lines in the daemon's entry point -----------------------------
    from collector import attach

    hook = attach(runner, args.hook_config)
    # ----------------------------------------------------------------------------------------------
    try:
        asyncio.run(serve(runner))
    finally:
        hook.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
