"""Unit tests (pure functions; no server)."""
