"""Sandboxed PyTorch training on marketplace datasets (compute-to-data).

Inside the sandbox (imported by :mod:`workers.training.entry` only, so they stay small and
free of platform dependencies): :mod:`.spec`, :mod:`.data`, :mod:`.model`, :mod:`.fit`,
:mod:`.artifact`, :mod:`.version`. Outside, in the worker: :mod:`.job` (fetch, sandbox,
upload, log on chain), :mod:`.ledger` (the TrainingLog contract) and :mod:`.audit`.
"""
