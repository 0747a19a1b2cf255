"""The `datacoin` command: the composition root that wires every component."""
