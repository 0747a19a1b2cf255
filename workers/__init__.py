"""Workers: Dramatiq actors that act on final on-chain events and answer with transactions."""
