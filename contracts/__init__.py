"""Solidity sources, the pinned compiler settings and the committed ABI/bytecode artifacts."""
