"""The read-only HTTP API for the dApp, auditors and workers (FastAPI)."""
