"""The simulator as an out-of-process daemon: serve its status over HTTP or keep rewriting a file.

For the local demo (``tradewatch-collector fake-daemon --serve 127.0.0.1:8765``) and for tests of
the HTTP and file sources. Every request / write is the next tick, stamped with the current time.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from collector.sources.simulate import SimulatedDaemon


def status_server(daemon: SimulatedDaemon, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server answering ``GET /status`` (any path) with the next tick's document."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                body = json.dumps(daemon.get_status()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return ThreadingHTTPServer((host, port), Handler)


def write_status_file(daemon: SimulatedDaemon, path: Path) -> None:
    """Write the next tick's document atomically (temporary file + rename), as a daemon should."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(daemon.get_status()))
    os.replace(tmp, path)


def run_file_writer(daemon: SimulatedDaemon, path: Path, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        write_status_file(daemon, path)
        stop.wait(interval)
