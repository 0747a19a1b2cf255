"""Implementations of the CLI commands (imported lazily)."""
