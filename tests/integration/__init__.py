"""Integration tests against real services (QuestDB from tests/support)."""
