"""The one-signature (EIP-2612) entry points: Marketplace.purchaseWithPermit,
TrainingLog.requestTrainingWithPermit and Staking.stakeWithPermit, each in the same four
situations: a valid permit, an expired one, one signed by someone else, and one that a
third party submitted to the token first (front-running must not fail the call)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from common.chain import Transactor
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    PermitSignature,
    balance,
    buy,
    coin,
    fund,
    latest_time,
    list_dataset,
    reverts,
    sign_permit,
    single_event,
)

CALLER, PROVIDER, OTHER_SIGNER, RELAYER = 2, 1, 3, 6
HOUR = 3600


@dataclass(frozen=True)
class Prepared:
    """A caller ready for one *WithPermit call: funded, and what it will permit."""

    value: int
    dataset_id: int = 0


@dataclass(frozen=True)
class PermitFlow:
    """One *WithPermit entry point: its contract, how to prepare the caller, the call, and
    the check that it did what its approve-first twin does."""

    spender: str
    prepare: Callable[[Platform, Transactor], Prepared]
    call: Callable[[Contract, Prepared, PermitSignature], ContractFunction]
    check: Callable[[Platform, Transactor, Prepared, TxReceipt], None]


# --- Marketplace.purchaseWithPermit -------------------------------------------------------


def prepare_purchase(chain: Platform, caller: Transactor) -> Prepared:
    price = 5 * WAD
    dataset_id = list_dataset(chain, chain.account(PROVIDER), price)
    fund(chain, caller.address, price)
    return Prepared(value=price, dataset_id=dataset_id)


def check_purchase(
    chain: Platform, caller: Transactor, ready: Prepared, receipt: TxReceipt
) -> None:
    market = chain.client.contract("Marketplace")
    event = single_event(market, "Purchased", receipt)
    assert (event["datasetId"], event["buyer"], event["price"]) == (
        ready.dataset_id,
        caller.address,
        ready.value,
    )
    assert market.functions.hasAccess(ready.dataset_id, caller.address).call()


# --- TrainingLog.requestTrainingWithPermit ------------------------------------------------


def prepare_training(chain: Platform, caller: Transactor) -> Prepared:
    dataset_id = list_dataset(chain, chain.account(PROVIDER), 2 * WAD)
    buy(chain, caller, dataset_id, 2 * WAD)  # access first, the usual way
    payment = 50 * WAD
    fund(chain, caller.address, payment)
    return Prepared(value=payment, dataset_id=dataset_id)


def check_training(
    chain: Platform, caller: Transactor, ready: Prepared, receipt: TxReceipt
) -> None:
    training = chain.client.contract("TrainingLog")
    event = single_event(training, "TrainingRequested", receipt)
    assert (event["datasetId"], event["requester"], event["payment"]) == (
        ready.dataset_id,
        caller.address,
        ready.value,
    )
    assert balance(coin(chain), training.address) == ready.value


# --- Staking.stakeWithPermit --------------------------------------------------------------


def prepare_stake(chain: Platform, caller: Transactor) -> Prepared:
    amount = 300 * WAD
    fund(chain, caller.address, amount)
    return Prepared(value=amount)


def check_stake(chain: Platform, caller: Transactor, ready: Prepared, receipt: TxReceipt) -> None:
    staking = chain.client.contract("Staking")
    assert single_event(staking, "Staked", receipt) == {
        "account": caller.address,
        "amount": ready.value,
        "newStake": ready.value,
    }
    assert staking.functions.stakeOf(caller.address).call() == ready.value


FLOWS = {
    "purchaseWithPermit": PermitFlow(
        spender="Marketplace",
        prepare=prepare_purchase,
        call=lambda market, ready, sig: market.functions.purchaseWithPermit(
            ready.dataset_id, ready.value, *sig.call_args()
        ),
        check=check_purchase,
    ),
    "requestTrainingWithPermit": PermitFlow(
        spender="TrainingLog",
        prepare=prepare_training,
        call=lambda training, ready, sig: training.functions.requestTrainingWithPermit(
            ready.dataset_id, "bafy-spec", ready.value, *sig.call_args()
        ),
        check=check_training,
    ),
    "stakeWithPermit": PermitFlow(
        spender="Staking",
        prepare=prepare_stake,
        call=lambda staking, ready, sig: staking.functions.stakeWithPermit(
            ready.value, *sig.call_args()
        ),
        check=check_stake,
    ),
}

flows = pytest.mark.parametrize("flow", list(FLOWS.values()), ids=list(FLOWS))


def permit_for(
    chain: Platform, flow: PermitFlow, ready: Prepared, *, signer: int = CALLER, ttl: int = HOUR
) -> PermitSignature:
    """A permit from the caller to the flow's contract for `ready.value`, signed by account
    `signer`, valid for `ttl` seconds from the latest block (negative: already expired)."""
    return sign_permit(
        coin(chain),
        signer=chain.account(signer).account,
        owner=chain.account(CALLER).address,
        spender=chain.client.contract(flow.spender).address,
        value=ready.value,
        deadline=latest_time(chain.client.w3) + ttl,
    )


@flows
def test_one_transaction_without_approve(chain: Platform, flow: PermitFlow) -> None:
    """Given a caller that never approved the contract, when it sends the *WithPermit call,
    then that single transaction does what approve + the plain call do, the permit's nonce
    is spent and no allowance is left over."""
    w3 = chain.client.w3
    token = coin(chain)
    caller = chain.account(CALLER)
    spender = chain.client.contract(flow.spender)
    ready = flow.prepare(chain, caller)
    assert token.functions.allowance(caller.address, spender.address).call() == 0
    nonce = token.functions.nonces(caller.address).call()
    sent_before = w3.eth.get_transaction_count(caller.account.address)

    receipt = caller.send(flow.call(spender, ready, permit_for(chain, flow, ready)))

    assert w3.eth.get_transaction_count(caller.account.address) == sent_before + 1
    flow.check(chain, caller, ready, receipt)
    assert token.functions.nonces(caller.address).call() == nonce + 1
    assert token.functions.allowance(caller.address, spender.address).call() == 0


@flows
def test_expired_permit_reverts(chain: Platform, flow: PermitFlow) -> None:
    """Given a permit whose deadline has passed, then the call reverts with the token's
    ERC2612ExpiredSignature(deadline), not a vaguer allowance error."""
    caller = chain.account(CALLER)
    spender = chain.client.contract(flow.spender)
    ready = flow.prepare(chain, caller)
    sig = permit_for(chain, flow, ready, ttl=-1)
    with reverts("ERC2612ExpiredSignature", sig.deadline):
        caller.send(flow.call(spender, ready, sig))


@flows
def test_permit_signed_by_someone_else_reverts(chain: Platform, flow: PermitFlow) -> None:
    """Given a permit for the caller's tokens signed by another key, then the call reverts
    with ERC2612InvalidSigner(signer, caller) and nothing moves."""
    token = coin(chain)
    caller = chain.account(CALLER)
    spender = chain.client.contract(flow.spender)
    ready = flow.prepare(chain, caller)
    sig = permit_for(chain, flow, ready, signer=OTHER_SIGNER)
    with reverts("ERC2612InvalidSigner", chain.account(OTHER_SIGNER).address, caller.address):
        caller.send(flow.call(spender, ready, sig))
    assert balance(token, caller.address) == ready.value


@flows
def test_front_run_permit_does_not_fail_the_call(chain: Platform, flow: PermitFlow) -> None:
    """Given someone who saw the permit in the mempool and submitted it to the token first
    (spending its nonce), when the caller's *WithPermit call runs, then its own permit fails
    but the allowance is there, so the call goes on and succeeds."""
    token = coin(chain)
    caller = chain.account(CALLER)
    spender = chain.client.contract(flow.spender)
    ready = flow.prepare(chain, caller)
    sig = permit_for(chain, flow, ready)
    chain.account(RELAYER).send(
        token.functions.permit(caller.address, spender.address, ready.value, *sig.call_args())
    )

    receipt = caller.send(flow.call(spender, ready, sig))

    flow.check(chain, caller, ready, receipt)
    assert token.functions.allowance(caller.address, spender.address).call() == 0
