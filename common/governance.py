"""Governance from Python: propose, vote, queue and execute through the DatacoinGovernor.

After a governed deployment the platform's admin functions (``setFee``, ``registerWorker``,
``setMinWorkerStake``, ...) belong to the Timelock, which only runs what a passed proposal
queued. `Governance` makes each step one call; `pass_proposal` runs the whole path on a
dev chain (anvil), mining the blocks and moving the clock that a real chain takes days for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import structlog
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.types import TxReceipt

from common.chain import ChainClient, Transactor

log = structlog.get_logger(__name__)

#: The manifest names of the governance contracts.
GOVERNOR, TIMELOCK = "DatacoinGovernor", "Timelock"


class ProposalState(IntEnum):
    """OpenZeppelin's ``IGovernor.ProposalState``, in its order."""

    PENDING = 0
    ACTIVE = 1
    CANCELED = 2
    DEFEATED = 3
    SUCCEEDED = 4
    QUEUED = 5
    EXPIRED = 6
    EXECUTED = 7


class Support(IntEnum):
    """A vote's choice (GovernorCountingSimple)."""

    AGAINST = 0
    FOR = 1
    ABSTAIN = 2


@dataclass(frozen=True)
class Call:
    """One call a proposal makes (the Timelock is its sender)."""

    target: str
    calldata: bytes
    value: int = 0

    @classmethod
    def to(cls, contract: Contract, function: str, *args: Any) -> Call:
        """`contract.function(*args)` as a call, e.g. ``Call.to(market, "setFee", 300)``."""
        data = contract.encode_abi(function, args=list(args))
        return cls(target=contract.address, calldata=bytes.fromhex(data.removeprefix("0x")))


@dataclass(frozen=True)
class Proposal:
    """What a proposal runs and its description: together they are its identity (the
    Governor hashes them into the proposal id)."""

    calls: tuple[Call, ...]
    description: str

    @property
    def description_hash(self) -> bytes:
        """keccak256 of the description, as ``queue`` and ``execute`` take it."""
        return keccak(text=self.description)

    def propose_args(self) -> tuple[list[str], list[int], list[bytes], str]:
        """The arguments of ``Governor.propose``."""
        targets, values, calldatas = self._columns()
        return targets, values, calldatas, self.description

    def operation_args(self) -> tuple[list[str], list[int], list[bytes], bytes]:
        """The arguments of ``Governor.queue``, ``execute`` and ``cancel``."""
        targets, values, calldatas = self._columns()
        return targets, values, calldatas, self.description_hash

    def _columns(self) -> tuple[list[str], list[int], list[bytes]]:
        return (
            [c.target for c in self.calls],
            [c.value for c in self.calls],
            [c.calldata for c in self.calls],
        )


class Governance:
    """The DatacoinGovernor of a deployment, one method per step of a proposal's life."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.governor = client.contract(GOVERNOR)
        self.timelock = client.contract(TIMELOCK)

    def proposal_id(self, proposal: Proposal) -> int:
        """The id the Governor gives `proposal` (a hash: known before it is proposed)."""
        return int(self.governor.functions.hashProposal(*proposal.operation_args()).call())

    def state(self, proposal: Proposal) -> ProposalState:
        """Where `proposal` stands (reverts for one never proposed)."""
        return ProposalState(self.governor.functions.state(self.proposal_id(proposal)).call())

    def propose(self, proposer: Transactor, proposal: Proposal) -> TxReceipt:
        """`proposer` (with at least the threshold of votes) proposes."""
        return proposer.send(self.governor.functions.propose(*proposal.propose_args()))

    def vote(self, voter: Transactor, proposal: Proposal, support: Support) -> TxReceipt:
        """`voter` casts its votes at the proposal's snapshot."""
        return voter.send(self.governor.functions.castVote(self.proposal_id(proposal), support))

    def queue(self, sender: Transactor, proposal: Proposal) -> TxReceipt:
        """Queue a succeeded proposal in the Timelock (anyone may)."""
        return sender.send(self.governor.functions.queue(*proposal.operation_args()))

    def execute(self, sender: Transactor, proposal: Proposal) -> TxReceipt:
        """Execute a queued proposal once the Timelock's delay has passed (anyone may)."""
        return sender.send(self.governor.functions.execute(*proposal.operation_args()))

    # -- dev chains: time travel -------------------------------------------------------
    def mine_past_vote_start(self, proposal: Proposal) -> None:
        """Mine until the vote is open (the snapshot block is then in the past)."""
        start = int(self.governor.functions.proposalSnapshot(self.proposal_id(proposal)).call())
        self._mine_to(start + 1)

    def mine_past_vote_end(self, proposal: Proposal) -> None:
        """Mine until the vote has closed."""
        end = int(self.governor.functions.proposalDeadline(self.proposal_id(proposal)).call())
        self._mine_to(end + 1)

    def wait_timelock(self, proposal: Proposal) -> None:
        """Move the clock to the queued proposal's earliest execution time."""
        eta = int(self.governor.functions.proposalEta(self.proposal_id(proposal)).call())
        w3 = self.client.w3
        now = int(w3.eth.get_block("latest")["timestamp"])
        if eta > now:
            # The next block's timestamp: exactly the eta (anvil takes it as given).
            w3.provider.make_request("evm_setNextBlockTimestamp", [eta])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def _mine_to(self, block: int) -> None:
        head = self.client.w3.eth.block_number
        if block > head:
            self.client.w3.provider.make_request("anvil_mine", [hex(block - head)])  # type: ignore[arg-type]


def pass_proposal(
    client: ChainClient,
    proposer: Transactor,
    voters: Sequence[Transactor],
    proposal: Proposal,
) -> TxReceipt:
    """On a dev chain: propose, let `voters` vote for, queue and execute `proposal`;
    returns the execution's receipt. The voters' votes are read at the snapshot, so they
    must have staked (and so self-delegated) before this is called. Raises RevertError
    from the step that fails (a defeated proposal fails at ``queue``)."""
    governance = Governance(client)
    governance.propose(proposer, proposal)
    governance.mine_past_vote_start(proposal)
    for voter in voters:
        governance.vote(voter, proposal, Support.FOR)
    governance.mine_past_vote_end(proposal)
    governance.queue(proposer, proposal)
    governance.wait_timelock(proposal)
    receipt = governance.execute(proposal=proposal, sender=proposer)
    log.info(
        "governance.executed",
        proposal_id=governance.proposal_id(proposal),
        description=proposal.description,
        block=receipt["blockNumber"],
    )
    return receipt


def is_governed(client: ChainClient) -> bool:
    """Whether the deployment has a Governor (its admin then belongs to the Timelock)."""
    return GOVERNOR in client.deployment.contracts
