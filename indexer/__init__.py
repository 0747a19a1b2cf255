"""Chain indexer: rpc -> sync -> decode -> store (the append-only event store)."""
