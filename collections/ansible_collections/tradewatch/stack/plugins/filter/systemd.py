# Copyright: tradewatch contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd hardening every service of the stack shares (QuestDB, the collector, the backups).

Each unit template ends its [Service] section with
``{{ ['/var/lib/questdb'] | tradewatch.stack.systemd_hardening(jit=true) }}``: the one list of
directives below, with what a service needs stated where it differs (the folders it writes, the
capabilities it keeps, a JIT that needs writable and executable memory, system calls it may make).
``systemd-analyze security`` scores each unit in the molecule scenarios.
"""

from __future__ import annotations

from collections.abc import Sequence

# System call groups a service is denied on top of @system-service, unless it says otherwise.
DEFAULT_DENIED_SYSCALLS = ("@privileged", "@resources")


def systemd_hardening(
    read_write_paths: Sequence[str],
    capabilities: Sequence[str] = (),
    jit: bool = False,
    denied_syscalls: Sequence[str] = DEFAULT_DENIED_SYSCALLS,
) -> str:
    """The hardening directives of a unit's [Service] section, one per line.

    read_write_paths: the only folders the service writes (everything else is read-only); an empty
        list for a service that writes none.
    capabilities: the capabilities it keeps (none by default).
    jit: true for a runtime with a JIT compiler (the JVM), which needs writable+executable memory.
    denied_syscalls: system call groups denied beyond @system-service.
    """
    if isinstance(read_write_paths, str) or read_write_paths is None:
        raise ValueError("systemd_hardening needs the list of folders the service writes ([] for none)")
    directives: list[tuple[str, str]] = [
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", " ".join(capabilities)),
        ("AmbientCapabilities", ""),
        ("ProtectSystem", "strict"),
        *([("ReadWritePaths", " ".join(read_write_paths))] if read_write_paths else []),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("DevicePolicy", "closed"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
    ]
    if not jit:
        directives.append(("MemoryDenyWriteExecute", "yes"))
    directives += [
        ("RemoveIPC", "yes"),
        ("KeyringMode", "private"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", "@system-service"),
    ]
    if denied_syscalls:
        directives.append(("SystemCallFilter", "~" + " ".join(denied_syscalls)))
    directives.append(("SystemCallErrorNumber", "EPERM"))
    return "\n".join(f"{key}={value}" for key, value in directives)


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"systemd_hardening": systemd_hardening}
