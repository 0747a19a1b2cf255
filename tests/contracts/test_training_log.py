"""TrainingLog: escrowed training requests, logging by registered staked workers (with the
provider's share), refunds after the deadline, and the owner's worker management."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from common.chain import Transactor
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    advance_time,
    approve,
    balance,
    block_time,
    buy,
    call_revert,
    coin,
    fund,
    list_dataset,
    reverts,
    single_event,
)

DAY = 24 * 3600
REQUESTED, LOGGED, REFUNDED = 1, 2, 3
MODEL_HASH = bytes.fromhex("0a" * 32)
METRICS_HASH = bytes.fromhex("0b" * 32)


def log_of(chain: Platform) -> Contract:
    return chain.client.contract("TrainingLog")


@dataclass
class Job:
    provider: Transactor
    requester: Transactor
    dataset: int
    job_id: int
    payment: int
    receipt: TxReceipt


def request_job(chain: Platform, payment: int, spec: str = "bafy-spec") -> Job:
    """Provider 1 lists a dataset, requester 2 buys it and escrows `payment` for a job."""
    training = log_of(chain)
    provider, requester = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 2 * WAD)
    buy(chain, requester, dataset, 2 * WAD)
    fund(chain, requester.address, payment)
    approve(requester, coin(chain), training.address, payment)
    receipt = requester.send(training.functions.requestTraining(dataset, spec, payment))
    job_id = single_event(training, "TrainingRequested", receipt)["jobId"]
    return Job(provider, requester, dataset, job_id, payment, receipt)


def ready_worker(chain: Platform, index: int = 3, stake: int | None = None) -> Transactor:
    """Account `index` registered as a worker and staking `stake` (default the minimum)."""
    worker = chain.account(index)
    amount = chain.config.min_worker_stake if stake is None else stake
    chain.deployer.send(log_of(chain).functions.registerWorker(worker.address))
    if amount:
        staking = chain.client.contract("Staking")
        fund(chain, worker.address, amount)
        approve(worker, coin(chain), staking.address, amount)
        worker.send(staking.functions.stake(amount))
    return worker


def log_call(
    chain: Platform, job_id: int, model: str = "bafy-model", metrics: str = "bafy-card"
) -> ContractFunction:
    """The logTraining call for `job_id` with fixed hashes."""
    return log_of(chain).functions.logTraining(job_id, model, MODEL_HASH, metrics, METRICS_HASH)


# --- requesting ---------------------------------------------------------------------------


def test_request_training_escrows_and_emits(chain: Platform) -> None:
    """Given a buyer with access, when it requests training with 50 DATACOIN, then
    TrainingRequested carries (jobId 1, dataset, requester, spec, payment, deadline =
    block time + timeout), the payment moves into the contract, and getJob stores it."""
    w3 = chain.client.w3
    token = coin(chain)
    training = log_of(chain)
    job = request_job(chain, 50 * WAD, spec="bafy-spec-1")
    deadline = block_time(w3, job.receipt) + chain.config.job_timeout
    assert single_event(training, "TrainingRequested", job.receipt) == {
        "jobId": 1,
        "datasetId": job.dataset,
        "requester": job.requester.address,
        "specCid": "bafy-spec-1",
        "payment": 50 * WAD,
        "deadline": deadline,
    }
    assert balance(token, training.address) == 50 * WAD
    assert balance(token, job.requester.address) == 0
    assert training.functions.jobCount().call() == 1
    assert tuple(training.functions.getJob(1).call()) == (
        job.requester.address,
        deadline,
        REQUESTED,
        job.dataset,
        50 * WAD,
        "bafy-spec-1",
    )


def test_request_without_access_reverts(chain: Platform) -> None:
    """Given an account that never bought the dataset, when it requests training, then
    NoDatasetAccess(dataset, requester) and nothing is escrowed."""
    token = coin(chain)
    training = log_of(chain)
    dataset = list_dataset(chain, chain.account(1), WAD)
    stranger = chain.account(4)
    fund(chain, stranger.address, 10 * WAD)
    approve(stranger, token, training.address, 10 * WAD)
    with reverts("NoDatasetAccess", dataset, stranger.address):
        stranger.send(training.functions.requestTraining(dataset, "spec", 10 * WAD))
    assert balance(token, stranger.address) == 10 * WAD
    assert training.functions.jobCount().call() == 0


def test_request_after_subscription_lapsed_reverts(chain: Platform) -> None:
    """Given a subscription that expired, when its buyer requests training, then
    NoDatasetAccess."""
    w3 = chain.client.w3
    training = log_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD, access_duration=DAY)
    buy(chain, buyer, dataset, WAD)
    advance_time(w3, DAY + 1)
    fund(chain, buyer.address, WAD)
    approve(buyer, coin(chain), training.address, WAD)
    with reverts("NoDatasetAccess", dataset, buyer.address):
        buyer.send(training.functions.requestTraining(dataset, "spec", WAD))


def test_provider_may_request_training_on_own_dataset(chain: Platform) -> None:
    """Given a provider (access without purchase), when it requests training, then it works."""
    training = log_of(chain)
    provider = chain.account(1)
    dataset = list_dataset(chain, provider, WAD)
    fund(chain, provider.address, WAD)
    approve(provider, coin(chain), training.address, WAD)
    receipt = provider.send(training.functions.requestTraining(dataset, "spec", WAD))
    assert single_event(training, "TrainingRequested", receipt)["requester"] == provider.address


def test_request_unknown_dataset_reverts(chain: Platform) -> None:
    """When the dataset does not exist, then the marketplace's UnknownDataset bubbles up."""
    with reverts("UnknownDataset", 77):
        chain.account(2).send(log_of(chain).functions.requestTraining(77, "spec", WAD))


def test_request_zero_payment_reverts(chain: Platform) -> None:
    """When the payment is 0, then ZeroPayment."""
    training = log_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD)
    buy(chain, buyer, dataset, WAD)
    with reverts("ZeroPayment"):
        buyer.send(training.functions.requestTraining(dataset, "spec", 0))


@pytest.mark.parametrize("spec", ["", "s" * 129])
def test_request_invalid_spec_cid_reverts(chain: Platform, spec: str) -> None:
    """When the spec CID is empty or longer than 128 bytes, then InvalidCid."""
    training = log_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD)
    buy(chain, buyer, dataset, WAD)
    with reverts("InvalidCid"):
        buyer.send(training.functions.requestTraining(dataset, spec, WAD))


def test_request_without_approval_reverts(chain: Platform) -> None:
    """Given a funded buyer that did not approve the escrow, then
    ERC20InsufficientAllowance(trainingLog, 0, payment) and no job is created."""
    training = log_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD)
    buy(chain, buyer, dataset, WAD)
    fund(chain, buyer.address, 5 * WAD)
    with reverts("ERC20InsufficientAllowance", training.address, 0, 5 * WAD):
        buyer.send(training.functions.requestTraining(dataset, "spec", 5 * WAD))
    assert training.functions.jobCount().call() == 0


# --- logging ------------------------------------------------------------------------------


def test_log_by_non_worker_reverts(chain: Platform) -> None:
    """Given an open job, when an unregistered account (even a staked one) logs it, then
    NotWorker(caller)."""
    job = request_job(chain, 10 * WAD)
    staking = chain.client.contract("Staking")
    outsider = chain.account(5)
    fund(chain, outsider.address, chain.config.min_worker_stake)
    approve(outsider, coin(chain), staking.address, chain.config.min_worker_stake)
    outsider.send(staking.functions.stake(chain.config.min_worker_stake))
    with reverts("NotWorker", outsider.address):
        outsider.send(log_call(chain, job.job_id))


def test_registered_worker_without_stake_reverts(chain: Platform) -> None:
    """Given a registered worker with no stake, when it logs, then
    InsufficientWorkerStake(worker, 0, minimum)."""
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain, stake=0)
    with reverts("InsufficientWorkerStake", worker.address, 0, 1_000 * WAD):
        worker.send(log_call(chain, job.job_id))


def test_worker_below_minimum_stake_reverts(chain: Platform) -> None:
    """Given a worker staking one wei under the minimum, then InsufficientWorkerStake."""
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain, stake=1_000 * WAD - 1)
    with reverts("InsufficientWorkerStake", worker.address, 1_000 * WAD - 1, 1_000 * WAD):
        worker.send(log_call(chain, job.job_id))


def test_worker_requesting_unstake_loses_logging_right(chain: Platform) -> None:
    """Given a staked worker, when it requests to unstake part of its stake, then the
    pending amount no longer counts and logging reverts InsufficientWorkerStake."""
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain)
    worker.send(chain.client.contract("Staking").functions.requestUnstake(1))
    with reverts("InsufficientWorkerStake", worker.address, 1_000 * WAD - 1, 1_000 * WAD):
        worker.send(log_call(chain, job.job_id))


@pytest.mark.parametrize("payment", [1, 9, 10, 11, 50 * WAD, 12_345_678_901_234_567_891])
def test_log_training_pays_worker_and_provider(chain: Platform, payment: int) -> None:
    """Given an open job and a staked registered worker, when it logs the result, then
    TrainingLogged carries every field, the provider gets payment * 1000 // 10000, the
    worker the rest, the escrow empties and the job is Logged."""
    token = coin(chain)
    training = log_of(chain)
    job = request_job(chain, payment, spec="bafy-spec-x")
    worker = ready_worker(chain)
    provider_before = balance(token, job.provider.address)
    provider_amount = payment * 1_000 // 10_000
    assert training.functions.providerShareBps().call() == 1_000

    receipt = worker.send(log_call(chain, job.job_id, "bafy-model-x", "bafy-card-x"))

    assert single_event(training, "TrainingLogged", receipt) == {
        "jobId": job.job_id,
        "datasetId": job.dataset,
        "worker": worker.address,
        "specCid": "bafy-spec-x",
        "modelCid": "bafy-model-x",
        "modelHash": MODEL_HASH,
        "metricsCid": "bafy-card-x",
        "metricsHash": METRICS_HASH,
        "workerAmount": payment - provider_amount,
        "providerAmount": provider_amount,
    }
    assert balance(token, worker.address) == payment - provider_amount
    assert balance(token, job.provider.address) == provider_before + provider_amount
    assert balance(token, training.address) == 0
    assert training.functions.getJob(job.job_id).call()[2] == LOGGED


def test_double_log_reverts_job_not_open(chain: Platform) -> None:
    """Given a logged job, when any worker logs it again, then JobNotOpen(job, Logged) and
    nobody is paid twice."""
    token = coin(chain)
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain)
    other_worker = ready_worker(chain, index=4)
    worker.send(log_call(chain, job.job_id))
    for tx in (worker, other_worker):
        with reverts("JobNotOpen", job.job_id, LOGGED):
            tx.send(log_call(chain, job.job_id))
    assert balance(token, worker.address) == 9 * WAD
    assert balance(token, other_worker.address) == 0


def test_log_after_deadline_reverts(chain: Platform) -> None:
    """Given a job past its deadline, when a worker logs it, then DeadlinePassed(job,
    deadline) and the escrow stays put."""
    w3 = chain.client.w3
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain)
    deadline = block_time(w3, job.receipt) + DAY
    advance_time(w3, DAY + 1)
    with reverts("DeadlinePassed", job.job_id, deadline):
        worker.send(log_call(chain, job.job_id))
    assert balance(coin(chain), log_of(chain).address) == 10 * WAD


def test_log_exactly_at_deadline_succeeds(chain: Platform) -> None:
    """Given a job, when a worker logs it in the block whose timestamp equals the deadline,
    then it is accepted (the deadline is inclusive for workers)."""
    w3 = chain.client.w3
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain)
    deadline = block_time(w3, job.receipt) + DAY
    w3.provider.make_request("evm_setNextBlockTimestamp", [deadline])  # type: ignore[arg-type]
    receipt = worker.send(log_call(chain, job.job_id))
    assert block_time(w3, receipt) == deadline
    assert log_of(chain).functions.getJob(job.job_id).call()[2] == LOGGED


@pytest.mark.parametrize(("model", "metrics"), [("", "card"), ("model", ""), ("m" * 129, "c")])
def test_log_rejects_invalid_cids(chain: Platform, model: str, metrics: str) -> None:
    """When the model or metrics CID is empty or too long, then InvalidCid."""
    job = request_job(chain, WAD)
    worker = ready_worker(chain)
    with reverts("InvalidCid"):
        worker.send(log_call(chain, job.job_id, model, metrics))


def test_log_unknown_job_reverts(chain: Platform) -> None:
    """When a worker logs a job id never requested, then UnknownJob(id)."""
    worker = ready_worker(chain)
    with reverts("UnknownJob", 42):
        worker.send(log_call(chain, 42))


def test_removed_worker_cannot_log(chain: Platform) -> None:
    """Given a worker the owner removed, when it logs, then NotWorker."""
    job = request_job(chain, WAD)
    worker = ready_worker(chain)
    chain.deployer.send(log_of(chain).functions.removeWorker(worker.address))
    with reverts("NotWorker", worker.address):
        worker.send(log_call(chain, job.job_id))


# --- refunds ------------------------------------------------------------------------------


def test_refund_before_deadline_reverts(chain: Platform) -> None:
    """Given an open job, when the requester asks for its money back at once or a minute
    before the deadline, then DeadlineNotReached(job, deadline)."""
    w3 = chain.client.w3
    job = request_job(chain, 10 * WAD)
    deadline = block_time(w3, job.receipt) + DAY
    training = log_of(chain)
    with reverts("DeadlineNotReached", job.job_id, deadline):
        job.requester.send(training.functions.refund(job.job_id))
    advance_time(w3, DAY - 60)
    with reverts("DeadlineNotReached", job.job_id, deadline):
        job.requester.send(training.functions.refund(job.job_id))
    assert balance(coin(chain), training.address) == 10 * WAD


def test_refund_by_other_reverts(chain: Platform) -> None:
    """Given an expired job, when someone else asks for the refund, then
    NotRequester(job, caller)."""
    w3 = chain.client.w3
    job = request_job(chain, 10 * WAD)
    advance_time(w3, DAY + 1)
    for other in (job.provider, chain.account(6)):
        with reverts("NotRequester", job.job_id, other.address):
            other.send(log_of(chain).functions.refund(job.job_id))


def test_refund_after_deadline_returns_escrow(chain: Platform) -> None:
    """Given an unlogged job past its deadline, when the requester refunds, then
    TrainingRefunded(job, requester, payment), the escrow returns and the job is Refunded;
    a second refund reverts JobNotOpen(job, Refunded) and logging it too."""
    w3 = chain.client.w3
    token = coin(chain)
    training = log_of(chain)
    job = request_job(chain, 10 * WAD + 3)
    worker = ready_worker(chain)
    advance_time(w3, DAY + 1)

    receipt = job.requester.send(training.functions.refund(job.job_id))

    assert single_event(training, "TrainingRefunded", receipt) == {
        "jobId": job.job_id,
        "requester": job.requester.address,
        "amount": 10 * WAD + 3,
    }
    assert balance(token, job.requester.address) == 10 * WAD + 3
    assert balance(token, training.address) == 0
    assert training.functions.getJob(job.job_id).call()[2] == REFUNDED
    with reverts("JobNotOpen", job.job_id, REFUNDED):
        job.requester.send(training.functions.refund(job.job_id))
    with reverts("JobNotOpen", job.job_id, REFUNDED):
        worker.send(log_call(chain, job.job_id))


def test_refund_after_log_reverts(chain: Platform) -> None:
    """Given a logged job, when the requester later refunds, then JobNotOpen(job, Logged)."""
    w3 = chain.client.w3
    job = request_job(chain, 10 * WAD)
    worker = ready_worker(chain)
    worker.send(log_call(chain, job.job_id))
    advance_time(w3, DAY + 1)
    with reverts("JobNotOpen", job.job_id, LOGGED):
        job.requester.send(log_of(chain).functions.refund(job.job_id))
    assert balance(coin(chain), job.requester.address) == 0


def test_refund_unknown_job_reverts(chain: Platform) -> None:
    """When refunding or reading a job id never requested, then UnknownJob(id)."""
    training = log_of(chain)
    with reverts("UnknownJob", 5):
        chain.account(2).send(training.functions.refund(5))
    error = call_revert(training.functions.getJob(5))
    assert (error.error, error.error_args) == ("UnknownJob", (5,))


# --- owner --------------------------------------------------------------------------------


def test_register_and_remove_worker_emit(chain: Platform) -> None:
    """When the owner registers then removes a worker, then WorkerRegistered and
    WorkerRemoved are emitted and isWorker follows."""
    training = log_of(chain)
    worker = chain.account(3).address
    receipt = chain.deployer.send(training.functions.registerWorker(worker))
    assert single_event(training, "WorkerRegistered", receipt) == {"worker": worker}
    assert training.functions.isWorker(worker).call() is True
    receipt = chain.deployer.send(training.functions.removeWorker(worker))
    assert single_event(training, "WorkerRemoved", receipt) == {"worker": worker}
    assert training.functions.isWorker(worker).call() is False


def test_set_min_worker_stake_emits_and_applies(chain: Platform) -> None:
    """When the owner lowers the minimum to 10, then MinWorkerStakeChanged(1000, 10) and a
    worker staking 10 can log."""
    training = log_of(chain)
    receipt = chain.deployer.send(training.functions.setMinWorkerStake(10 * WAD))
    assert single_event(training, "MinWorkerStakeChanged", receipt) == {
        "oldMinimum": 1_000 * WAD,
        "newMinimum": 10 * WAD,
    }
    assert training.functions.minWorkerStake().call() == 10 * WAD
    job = request_job(chain, WAD)
    worker = ready_worker(chain, stake=10 * WAD)
    worker.send(log_call(chain, job.job_id))
    assert training.functions.getJob(job.job_id).call()[2] == LOGGED


def test_owner_only_worker_management(chain: Platform) -> None:
    """When a non-owner registers, removes or sets the minimum, then
    OwnableUnauthorizedAccount(caller) and nothing changes."""
    training = log_of(chain)
    intruder = chain.account(5)
    for call in (
        training.functions.registerWorker(intruder.address),
        training.functions.removeWorker(intruder.address),
        training.functions.setMinWorkerStake(0),
    ):
        with reverts("OwnableUnauthorizedAccount", intruder.address):
            intruder.send(call)
    assert training.functions.isWorker(intruder.address).call() is False
    assert training.functions.minWorkerStake().call() == 1_000 * WAD
    assert training.functions.owner().call() == chain.deployer.address
