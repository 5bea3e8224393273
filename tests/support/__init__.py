"""Test support code: a real QuestDB server and helpers shared by the test suites."""
