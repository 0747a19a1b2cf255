"""The DATACOIN bridge's off-chain side: relayers that carry final sends across chains."""
