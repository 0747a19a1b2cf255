"""All projections, in a fixed order (the state hash walks tables in this order)."""

from __future__ import annotations

from projections.account_totals import AccountTotals
from projections.activity import Activity
from projections.base import Projection
from projections.bridge import BridgeDeliveries, BridgeSends
from projections.datasets import DatasetCounters, Datasets
from projections.governance import Proposals, TimelockOperations, Votes
from projections.outbox import Outbox
from projections.parameters import ParameterChanges
from projections.profiles import Profiles
from projections.purchases import AccessGrants, Purchases
from projections.stakes import Stakes
from projections.stats import Stats
from projections.training import TrainingJobs
from projections.voting_power import DelegateVotes, Delegations, VotingSupplyChanges


def all_projections() -> list[Projection]:
    """A fresh instance of every projection."""
    return [
        Datasets(),
        DatasetCounters(),
        Purchases(),
        AccessGrants(),
        TrainingJobs(),
        Stakes(),
        Profiles(),
        Activity(),
        AccountTotals(),
        Stats(),
        Outbox(),
        Proposals(),
        Votes(),
        TimelockOperations(),
        ParameterChanges(),
        Delegations(),
        DelegateVotes(),
        VotingSupplyChanges(),
        BridgeSends(),
        BridgeDeliveries(),
    ]
