"""Re-entrancy: a hostile ERC-20 (contracts/test/ReentrantToken.sol) calls back into the
marketplace, staking and escrow in the middle of its transfers. Every guarded entry point
must refuse with ReentrancyGuardReentrantCall, and the outer call must leave no trace."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from web3.contract import Contract

from common.chain import Transactor
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    advance_time,
    balance,
    deploy,
    events,
    reverts,
    single_event,
)

COOLDOWN = 3600
TIMEOUT = 3600
MIN_STAKE = 100 * WAD
REQUESTED = 1


@dataclass
class Hostile:
    """A marketplace, staking and escrow wired to the hostile token."""

    token: Contract
    market: Contract
    staking: Contract
    training: Contract
    treasury: str
    owner: Transactor

    def arm(self, target: Contract, fn: str, *args: object) -> None:
        """Make the token's next transfer call `target.fn(*args)` (once)."""
        payload = target.encode_abi(fn, args=list(args))
        self.owner.send(self.token.functions.arm(target.address, payload))


@pytest.fixture
def hostile(chain: Platform) -> Hostile:
    tx = chain.deployer
    treasury = chain.account(9).address
    token = deploy(tx, "ReentrantToken")
    market = deploy(tx, "Marketplace", token.address, tx.address, treasury, 250)
    staking = deploy(tx, "Staking", token.address, COOLDOWN)
    training = deploy(
        tx,
        "TrainingLog",
        token.address,
        market.address,
        staking.address,
        tx.address,
        1_000,
        TIMEOUT,
        MIN_STAKE,
    )
    return Hostile(token, market, staking, training, treasury, tx)


def mint_and_approve(h: Hostile, who: Transactor, amount: int, spender: str) -> None:
    who.send(h.token.functions.mint(who.address, amount))
    who.send(h.token.functions.approve(spender, amount))


def listed(h: Hostile, provider: Transactor, price: int) -> int:
    receipt = provider.send(h.market.functions.listDataset("cid", b"\x01" * 32, "tab", price, 0))
    return int(single_event(h.market, "DatasetListed", receipt)["datasetId"])


# --- marketplace --------------------------------------------------------------------------


def test_purchase_reentering_purchase_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given a token armed to call purchase() again during the buyer's payment, when the
    buyer purchases, then the outer call reverts ReentrancyGuardReentrantCall, no access is
    granted and no tokens moved."""
    h = hostile
    provider, buyer = chain.account(1), chain.account(2)
    dataset = listed(h, provider, 40 * WAD)
    mint_and_approve(h, buyer, 100 * WAD, h.market.address)
    h.arm(h.market, "purchase", dataset, 40 * WAD)

    with reverts("ReentrancyGuardReentrantCall") as info:
        buyer.send(h.market.functions.purchase(dataset, 40 * WAD))
    assert info.value.error_args == ()

    assert h.market.functions.hasAccess(dataset, buyer.address).call() is False
    assert h.market.functions.hasPurchased(dataset, buyer.address).call() is False
    assert h.market.functions.accessExpiry(dataset, buyer.address).call() == 0
    assert balance(h.token, buyer.address) == 100 * WAD
    assert balance(h.token, provider.address) == 0
    assert balance(h.token, h.treasury) == 0
    assert h.token.functions.allowance(buyer.address, h.market.address).call() == 100 * WAD


def test_purchase_reentering_another_dataset_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given the callback targets a different (free) dataset, then it is still refused:
    the guard is per contract, not per dataset."""
    h = hostile
    provider, buyer = chain.account(1), chain.account(2)
    paid = listed(h, provider, 10 * WAD)
    free = listed(h, provider, 0)
    mint_and_approve(h, buyer, 10 * WAD, h.market.address)
    h.arm(h.market, "purchase", free, 0)
    with reverts("ReentrancyGuardReentrantCall"):
        buyer.send(h.market.functions.purchase(paid, 10 * WAD))
    for dataset in (paid, free):
        assert h.market.functions.hasPurchased(dataset, buyer.address).call() is False
    assert h.market.functions.hasPurchased(free, h.token.address).call() is False
    assert balance(h.token, buyer.address) == 10 * WAD


def test_control_unguarded_callback_runs_mid_purchase(chain: Platform, hostile: Hostile) -> None:
    """Control: given the token armed to call the unguarded listDataset(), when the buyer
    purchases, then the callback really runs (a dataset listed by the token appears) and
    the purchase succeeds - so the reverts above come from the guard, not the harness."""
    h = hostile
    provider, buyer = chain.account(1), chain.account(2)
    dataset = listed(h, provider, 40 * WAD)
    mint_and_approve(h, buyer, 40 * WAD, h.market.address)
    h.arm(h.market, "listDataset", "cb", b"\x02" * 32, "cb", 1, 0)

    receipt = buyer.send(h.market.functions.purchase(dataset, 40 * WAD))

    listed_events = events(h.market, "DatasetListed", receipt)
    assert [(e["datasetId"], e["provider"]) for e in listed_events] == [(2, h.token.address)]
    assert single_event(h.market, "Purchased", receipt)["buyer"] == buyer.address
    assert h.market.functions.hasAccess(dataset, buyer.address).call() is True
    assert balance(h.token, provider.address) == 39 * WAD
    assert balance(h.token, h.treasury) == WAD


# --- staking ------------------------------------------------------------------------------


def test_stake_reentering_stake_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given a token armed to call stake() during the pull, when an account stakes, then
    ReentrancyGuardReentrantCall and no stake is recorded."""
    h = hostile
    staker = chain.account(3)
    mint_and_approve(h, staker, 50 * WAD, h.staking.address)
    h.arm(h.staking, "stake", 1)
    with reverts("ReentrancyGuardReentrantCall"):
        staker.send(h.staking.functions.stake(50 * WAD))
    assert h.staking.functions.stakeOf(staker.address).call() == 0
    assert h.staking.functions.totalStaked().call() == 0
    assert balance(h.token, staker.address) == 50 * WAD
    assert balance(h.token, h.staking.address) == 0


def test_unstake_reentering_unstake_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given a matured unstake request and a token armed to call unstake() during the
    payout, when the staker withdraws, then ReentrancyGuardReentrantCall and the pending
    amount is still there (and withdrawable once the token behaves)."""
    h = hostile
    w3 = chain.client.w3
    staker = chain.account(3)
    mint_and_approve(h, staker, 50 * WAD, h.staking.address)
    staker.send(h.staking.functions.stake(50 * WAD))
    staker.send(h.staking.functions.requestUnstake(20 * WAD))
    advance_time(w3, COOLDOWN + 1)
    h.arm(h.staking, "unstake")

    with reverts("ReentrancyGuardReentrantCall"):
        staker.send(h.staking.functions.unstake())

    amount, _ = h.staking.functions.pendingUnstake(staker.address).call()
    assert amount == 20 * WAD
    assert balance(h.token, staker.address) == 0
    assert balance(h.token, h.staking.address) == 50 * WAD
    # Disarm by consuming the callback on a harmless self-transfer, then withdraw.
    h.arm(h.market, "datasetCount")
    staker.send(h.token.functions.transfer(staker.address, 0))
    staker.send(h.staking.functions.unstake())
    assert balance(h.token, staker.address) == 20 * WAD


# --- training escrow ----------------------------------------------------------------------


def open_job(chain: Platform, h: Hostile, payment: int) -> tuple[Transactor, int]:
    """Provider 1 lists (and so has access) and escrows `payment` for a job on it."""
    requester = chain.account(1)
    dataset = listed(h, requester, WAD)
    mint_and_approve(h, requester, payment, h.training.address)
    receipt = requester.send(h.training.functions.requestTraining(dataset, "spec", payment))
    return requester, int(single_event(h.training, "TrainingRequested", receipt)["jobId"])


def test_request_training_reentering_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given a token armed to call requestTraining() during the escrow pull, when the
    requester asks for a job, then ReentrancyGuardReentrantCall and no job exists."""
    h = hostile
    requester = chain.account(1)
    dataset = listed(h, requester, WAD)
    mint_and_approve(h, requester, 30 * WAD, h.training.address)
    h.arm(h.training, "requestTraining", dataset, "spec", 1)
    with reverts("ReentrancyGuardReentrantCall"):
        requester.send(h.training.functions.requestTraining(dataset, "spec", 30 * WAD))
    assert h.training.functions.jobCount().call() == 0
    assert balance(h.token, requester.address) == 30 * WAD
    assert balance(h.token, h.training.address) == 0


def test_request_training_reentering_refund_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given an expired job of the requester's and a token armed to call refund() on it
    during a new request's escrow pull, then ReentrancyGuardReentrantCall: the old job
    stays open and the new one is not created."""
    h = hostile
    w3 = chain.client.w3
    requester, job_id = open_job(chain, h, 10 * WAD)
    advance_time(w3, TIMEOUT + 1)
    mint_and_approve(h, requester, 5 * WAD, h.training.address)
    h.arm(h.training, "refund", job_id)
    with reverts("ReentrancyGuardReentrantCall"):
        requester.send(h.training.functions.requestTraining(1, "spec", 5 * WAD))
    assert h.training.functions.jobCount().call() == 1
    assert h.training.functions.getJob(job_id).call()[2] == REQUESTED
    assert balance(h.token, h.training.address) == 10 * WAD


def test_refund_reentering_refund_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given an expired job and a token armed to call refund() again during the payout,
    when the requester refunds, then ReentrancyGuardReentrantCall: the escrow is not paid
    twice (nor once) and the job stays open."""
    h = hostile
    w3 = chain.client.w3
    requester, job_id = open_job(chain, h, 10 * WAD)
    advance_time(w3, TIMEOUT + 1)
    h.arm(h.training, "refund", job_id)
    with reverts("ReentrancyGuardReentrantCall"):
        requester.send(h.training.functions.refund(job_id))
    assert h.training.functions.getJob(job_id).call()[2] == REQUESTED
    assert balance(h.token, h.training.address) == 10 * WAD
    assert balance(h.token, requester.address) == 0


def test_log_training_reentering_log_is_blocked(chain: Platform, hostile: Hostile) -> None:
    """Given a staked registered worker and a token armed to call logTraining() again
    during the worker's payout, when the worker logs, then ReentrancyGuardReentrantCall:
    the job stays open and nobody is paid."""
    h = hostile
    requester, job_id = open_job(chain, h, 10 * WAD)
    worker = chain.account(4)
    chain.deployer.send(h.training.functions.registerWorker(worker.address))
    mint_and_approve(h, worker, MIN_STAKE, h.staking.address)
    worker.send(h.staking.functions.stake(MIN_STAKE))
    log = h.training.functions.logTraining(job_id, "model", b"\x03" * 32, "card", b"\x04" * 32)
    h.arm(h.training, "logTraining", job_id, "model", b"\x03" * 32, "card", b"\x04" * 32)
    with reverts("ReentrancyGuardReentrantCall"):
        worker.send(log)
    assert h.training.functions.getJob(job_id).call()[2] == REQUESTED
    assert balance(h.token, worker.address) == 0
    assert balance(h.token, requester.address) == 0
    assert balance(h.token, h.training.address) == 10 * WAD
