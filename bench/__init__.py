"""Benchmarks of issue 6 (SC-001..005): ingest, latency, collector footprint, storage and retention,
dashboards. Not part of the default test run; ``python -m bench --help`` and bench/README.md."""

import sys
from pathlib import Path

# The same import roots as pytest's (pyproject: pythonpath): the repository and our collection.
for _path in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[1] / "collections"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))
