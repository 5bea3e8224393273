"""Status sources: the daemon's status over HTTP, from a file, in-process, or simulated."""

from collector.sources.base import PollResult, Snapshot, StatusSource, Unreachable
from collector.sources.inprocess import InProcessSource
from collector.sources.remote import FileStatusSource, HttpStatusSource
from collector.sources.simulate import SimulatedDaemon, SimulateSource
from collector.sources.status import StatusDocument, StatusError, parse_status

__all__ = [
    "FileStatusSource",
    "HttpStatusSource",
    "InProcessSource",
    "PollResult",
    "SimulateSource",
    "SimulatedDaemon",
    "Snapshot",
    "StatusDocument",
    "StatusError",
    "StatusSource",
    "Unreachable",
    "parse_status",
]
