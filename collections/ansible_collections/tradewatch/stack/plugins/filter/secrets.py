# Copyright: tradewatch contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a secret is written into each file format that carries one, and what a format cannot carry.

Every template that writes a secret passes it through one of the ``*_value`` filters, and every
role's preflight refuses, through ``secret_refusals``, a secret that one of its carriers cannot hold,
naming the variable and the character. The tests prove each format through its real consumer.
"""

from __future__ import annotations

import re

# Characters no carrier takes on one line (a line break ends a key in every format here).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What Grafana expands in grafana.ini values, with no escape (pkg/setting/expanders.go: ${VAR},
# $__env{VAR}, $__file{path}, $__vault{...}).
_GRAFANA_EXPANDER = re.compile(r"\$(|__\w+)\{[^}]+\}")
# Java's String.trim(): what QuestDB strips from both ends of a server.conf value.
_JAVA_TRIMMED = "".join(chr(c) for c in range(0x21))

# The carriers, each with what it cannot hold and why. Keys are the names the roles pass.
CARRIERS: dict[str, str] = {
    "questdb": "QuestDB's server.conf (Java properties; QuestDB trims each value)",
    "grafana_ini": "grafana.ini (Grafana expands ${...} and $__name{...} there, with no escape)",
    "grafana_provisioning": "Grafana's provisioning YAML",
    "systemd_env": "a systemd EnvironmentFile",
    "ini": "an INI file read by Python's configparser (which strips each value)",
}


def _char(ch: str) -> str:
    name = {" ": "space", "\t": "tab", "\n": "line break", "\r": "carriage return"}.get(ch)
    code = f"U+{ord(ch):04X}"
    return f"{code} ({name})" if name else code


def java_properties_value(value: object) -> str:
    """A value for a Java properties file, read back exactly by ``Properties.load``.

    Escapes the backslash and a leading space (a value needs no other escape); writes every
    character outside printable ASCII as ``\\uXXXX`` (UTF-16 units), so the file is plain ASCII
    whichever charset the reader assumes.
    """
    text = str(value)
    out: list[str] = []
    for index, ch in enumerate(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == " " and index == 0:
            out.append("\\" + ch)
        elif 0x20 <= code <= 0x7E:
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2))
    return "".join(out)


def systemd_env_value(value: object) -> str:
    """A double-quoted value for a systemd EnvironmentFile (``\\``, ``"``, `` ` `` and ``$`` escaped)."""
    text = str(value)
    return '"' + re.sub(r'([\\"`$])', r"\\\1", text) + '"'


def grafana_provisioning_value(value: object) -> str:
    """A string for Grafana's provisioning files, which expand ``$VAR``: every ``$`` as ``$$``."""
    return str(value).replace("$", "$$")


def grafana_ini_value(value: object) -> str:
    """A grafana.ini value in triple quotes (go-ini keeps everything up to the last ``\"\"\"``)."""
    return '"""' + str(value) + '"""'


def secret_refusals(value: object, name: str, carriers: list[str]) -> list[str]:
    """Why ``value`` (the secret variable ``name``) cannot be written into ``carriers``; empty if it can.

    The messages name the variable and the character, never the secret.
    """
    unknown = [c for c in carriers if c not in CARRIERS]
    if unknown:
        raise ValueError(f"unknown secret carrier(s) {unknown}; known: {sorted(CARRIERS)}")
    value = str(value)  # whether it is a string at all is the other preflight checks' job
    problems: list[str] = []
    control = _CONTROL.search(value)
    if control:
        problems.append(
            f"{name} contains the control character {_char(control.group())}; "
            f"{' and '.join(CARRIERS[c] for c in carriers)} hold a value on one line only. Remove it."
        )
    trimming = [c for c in carriers if c in ("questdb", "ini")]
    if trimming and value and (value[0] in _JAVA_TRIMMED or value[-1] in _JAVA_TRIMMED):
        edge = value[0] if value[0] in _JAVA_TRIMMED else value[-1]
        where = "starts" if value[0] in _JAVA_TRIMMED else "ends"
        problems.append(
            f"{name} {where} with {_char(edge)}: {CARRIERS[trimming[0]]} loses whitespace at either end, "
            "so the server would hold another password than the clients send. Remove it."
        )
    if "grafana_ini" in carriers:
        expander = _GRAFANA_EXPANDER.search(value)
        if expander:
            problems.append(
                f"{name} contains '$' followed by '{{...}}' ({len(expander.group())} characters at "
                f"position {expander.start()}), which {CARRIERS['grafana_ini']} would replace. "
                "Change those characters."
            )
    return problems


class FilterModule:
    """tradewatch.stack secret filters."""

    def filters(self) -> dict[str, object]:
        return {
            "java_properties_value": java_properties_value,
            "systemd_env_value": systemd_env_value,
            "grafana_provisioning_value": grafana_provisioning_value,
            "grafana_ini_value": grafana_ini_value,
            "secret_refusals": secret_refusals,
        }
