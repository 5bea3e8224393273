# Copyright: tradewatch contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an environment name may be, for every role of the stack (the one place the roles read it).

An environment is data: an inventory names its own (``tradewatch_env``) and the roles accept any name
of this form, so a new environment (``canary``) needs no edit here. The name becomes a SYMBOL in every
row, a label on every alert and part of Grafana's datasource uid, hence the short, plain form. The
collector's configuration checks the same form (``collector.models.ENV_PATTERN``).
"""

from __future__ import annotations

import re

ENV_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
ENV_FORM = "a lowercase letter, then up to 31 lowercase letters, digits or '-'"


def env_refusals(value: object, variable: str) -> list[str]:
    """[] for a valid environment name, else one sentence naming ``variable`` and the form it needs."""
    if isinstance(value, str) and re.fullmatch(ENV_PATTERN, value):
        return []
    return [f"{variable} is {value!r}; an environment name is {ENV_FORM} (e.g. prod, staging, canary)."]


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"env_refusals": env_refusals}
