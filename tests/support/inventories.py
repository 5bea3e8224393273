"""What the project's inventories say about an environment (read, never copied into the tests)."""

from __future__ import annotations

import yaml

from tests.support.paths import REPO


def inventory_relaxed(env: str) -> bool:
    """Whether inventories/<env> marks its environment local or dev (tradewatch_env_relaxed); an
    environment no inventory of ours names (a new one: canary) gets the strict checks."""
    main = REPO / "inventories" / env / "group_vars" / "all" / "main.yml"
    return main.is_file() and bool(yaml.safe_load(main.read_text()).get("tradewatch_env_relaxed", False))
