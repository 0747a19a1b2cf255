"""What a training job costs: the escrow a requester sends with ``requestTraining``.

The contract takes any nonzero payment and releases it on ``logTraining`` (a share to the
dataset's provider); the worker trains every open job whatever it escrowed. The platform
quotes one flat price per job — every spec is bounded (workers.training.spec), and so is
the sandbox's time — the amount the demo and the tests pay.
"""

from __future__ import annotations

#: The escrow quoted for one job, in DATACOIN's smallest unit (10 DATACOIN).
JOB_PRICE = 10 * 10**18
