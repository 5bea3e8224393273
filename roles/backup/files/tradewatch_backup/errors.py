"""The program's one exception type."""

from __future__ import annotations


class BackupError(Exception):
    """A failure with a message meant for the operator."""
