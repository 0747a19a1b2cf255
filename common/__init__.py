"""Shared foundations: settings, logging, database base, errors and the chain client."""
