"""UTC time stamps as they appear in backup names, manifests and folders set aside."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(ts: dt.datetime) -> str:
    """2026-01-01T03:15:00.123456Z"""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp() -> str:
    """20260101T031500Z: the current time in backup names and .pre-restore-* folders."""
    return f"{utcnow():%Y%m%dT%H%M%SZ}"
