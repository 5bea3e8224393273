"""Entry point: ``python3 -m tradewatch_backup`` and the zipapp's ``__main__`` (absolute import)."""

from __future__ import annotations

import sys

from tradewatch_backup.app import main

if __name__ == "__main__":
    sys.exit(main())
