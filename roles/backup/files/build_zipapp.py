#!/usr/bin/env python3
"""Build tradewatch-backup, one executable zipapp, from the tradewatch_backup package.

    build_zipapp.py PACKAGE_DIR OUTPUT

Runs on the Ansible controller (tasks/install.yml) and in the tests. The output depends only on
the package's *.py files: sorted entries, fixed timestamps and modes, no compression (zlib's output
may differ between versions), no byte code. So the same sources give the same bytes on any
controller, and the role's copy of the file stays idempotent. Standard library only.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

SHEBANG = b"#!/usr/bin/env python3\n"
# The earliest time a zip file can hold.
EPOCH = (1980, 1, 1, 0, 0, 0)


def entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix: external_attr holds the mode
    info.external_attr = 0o100644 << 16
    return info


def build(package: Path, output: Path) -> None:
    sources = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))
    if "__main__.py" not in sources:
        raise SystemExit(f"{package}: no __main__.py")
    tmp = output.with_name(f".{output.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(SHEBANG)
        with zipfile.ZipFile(fh, "w") as zf:
            # The archive's own __main__ is the package's: it imports the package absolutely.
            zf.writestr(entry("__main__.py"), (package / "__main__.py").read_bytes())
            for name in sources:
                zf.writestr(entry(f"{package.name}/{name}"), (package / name).read_bytes())
    os.chmod(tmp, 0o755)
    tmp.replace(output)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
