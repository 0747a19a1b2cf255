"""Projections: deterministic folds of the event store into PostgreSQL read models."""
