"""All projections, in a fixed order (the state hash walks tables in this order)."""

from __future__ import annotations

from projections.activity import Activity
from projections.base import Projection
from projections.datasets import Datasets
from projections.outbox import Outbox
from projections.profiles import Profiles
from projections.purchases import AccessGrants, Purchases
from projections.stakes import Stakes
from projections.stats import Stats
from projections.training import TrainingJobs


def all_projections() -> list[Projection]:
    """A fresh instance of every projection."""
    return [
        Datasets(),
        Purchases(),
        AccessGrants(),
        TrainingJobs(),
        Stakes(),
        Profiles(),
        Activity(),
        Stats(),
        Outbox(),
    ]
