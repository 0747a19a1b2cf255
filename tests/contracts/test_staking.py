"""Staking: stake, request an unstake, wait out the cooldown, withdraw."""

from __future__ import annotations

from web3.contract import Contract

from common.chain import Transactor
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    advance_time,
    approve,
    balance,
    block_time,
    coin,
    fund,
    reverts,
    single_event,
)

WEEK = 7 * 24 * 3600


def staking_of(chain: Platform) -> Contract:
    return chain.client.contract("Staking")


def staked(chain: Platform, index: int, amount: int, funded: int | None = None) -> Transactor:
    """Account `index`, funded with `funded` (default `amount`) and staking `amount`."""
    staker = chain.account(index)
    staking = staking_of(chain)
    fund(chain, staker.address, amount if funded is None else funded)
    approve(staker, coin(chain), staking.address, amount)
    staker.send(staking.functions.stake(amount))
    return staker


def test_stake_emits_and_moves_tokens(chain: Platform) -> None:
    """Given a funded staker, when it stakes 300 then 200, then Staked carries the running
    stake (300, then 500), the tokens sit in the contract and totalStaked adds up."""
    token = coin(chain)
    staking = staking_of(chain)
    staker = chain.account(1)
    assert staking.functions.cooldown().call() == chain.config.unstake_cooldown == WEEK
    fund(chain, staker.address, 600 * WAD)
    approve(staker, token, staking.address, 500 * WAD)

    first = staker.send(staking.functions.stake(300 * WAD))
    second = staker.send(staking.functions.stake(200 * WAD))

    assert single_event(staking, "Staked", first) == {
        "account": staker.address,
        "amount": 300 * WAD,
        "newStake": 300 * WAD,
    }
    assert single_event(staking, "Staked", second) == {
        "account": staker.address,
        "amount": 200 * WAD,
        "newStake": 500 * WAD,
    }
    assert staking.functions.stakeOf(staker.address).call() == 500 * WAD
    assert staking.functions.totalStaked().call() == 500 * WAD
    assert balance(token, staking.address) == 500 * WAD
    assert balance(token, staker.address) == 100 * WAD


def test_total_staked_sums_accounts(chain: Platform) -> None:
    """Given two stakers, then totalStaked is the sum of their stakes."""
    staking = staking_of(chain)
    staked(chain, 1, 7 * WAD)
    staked(chain, 2, 11 * WAD + 1)
    assert staking.functions.totalStaked().call() == 18 * WAD + 1


def test_stake_zero_reverts(chain: Platform) -> None:
    """When staking 0, then ZeroAmount."""
    with reverts("ZeroAmount"):
        chain.account(1).send(staking_of(chain).functions.stake(0))


def test_stake_without_approval_or_balance_reverts(chain: Platform) -> None:
    """When staking without approval, then ERC20InsufficientAllowance; with approval but no
    balance, then ERC20InsufficientBalance; and no stake is recorded either way."""
    token = coin(chain)
    staking = staking_of(chain)
    staker = chain.account(1)
    with reverts("ERC20InsufficientAllowance", staking.address, 0, WAD):
        staker.send(staking.functions.stake(WAD))
    approve(staker, token, staking.address, WAD)
    with reverts("ERC20InsufficientBalance", staker.address, 0, WAD):
        staker.send(staking.functions.stake(WAD))
    assert staking.functions.stakeOf(staker.address).call() == 0
    assert staking.functions.totalStaked().call() == 0


def test_request_unstake_starts_cooldown(chain: Platform) -> None:
    """Given a stake of 100, when 40 is requested, then UnstakeRequested(40, newStake 60,
    pending 40, availableAt = block time + cooldown) and the active stake drops at once."""
    w3 = chain.client.w3
    staking = staking_of(chain)
    staker = staked(chain, 1, 100 * WAD)

    receipt = staker.send(staking.functions.requestUnstake(40 * WAD))

    available_at = block_time(w3, receipt) + WEEK
    assert single_event(staking, "UnstakeRequested", receipt) == {
        "account": staker.address,
        "amount": 40 * WAD,
        "newStake": 60 * WAD,
        "pendingAmount": 40 * WAD,
        "availableAt": available_at,
    }
    assert staking.functions.stakeOf(staker.address).call() == 60 * WAD
    assert staking.functions.totalStaked().call() == 60 * WAD
    assert list(staking.functions.pendingUnstake(staker.address).call()) == [
        40 * WAD,
        available_at,
    ]
    # The tokens stay in the contract until the withdrawal.
    assert balance(coin(chain), staking.address) == 100 * WAD


def test_second_request_accumulates_and_restarts_cooldown(chain: Platform) -> None:
    """Given a pending request, when another is made a day later, then the pending amount
    adds up and availableAt restarts from the second request."""
    w3 = chain.client.w3
    staking = staking_of(chain)
    staker = staked(chain, 1, 100 * WAD)
    staker.send(staking.functions.requestUnstake(10 * WAD))
    advance_time(w3, 24 * 3600)
    receipt = staker.send(staking.functions.requestUnstake(15 * WAD))
    event = single_event(staking, "UnstakeRequested", receipt)
    assert (event["amount"], event["newStake"], event["pendingAmount"]) == (
        15 * WAD,
        75 * WAD,
        25 * WAD,
    )
    assert event["availableAt"] == block_time(w3, receipt) + WEEK


def test_request_unstake_more_than_staked_reverts(chain: Platform) -> None:
    """When requesting more than the active stake, then InsufficientStake(staked, asked)."""
    staking = staking_of(chain)
    staker = staked(chain, 1, 5 * WAD)
    with reverts("InsufficientStake", 5 * WAD, 5 * WAD + 1):
        staker.send(staking.functions.requestUnstake(5 * WAD + 1))
    with reverts("InsufficientStake", 0, 1):
        chain.account(2).send(staking.functions.requestUnstake(1))
    assert staking.functions.stakeOf(staker.address).call() == 5 * WAD


def test_request_unstake_zero_reverts(chain: Platform) -> None:
    """When requesting 0, then ZeroAmount."""
    staker = staked(chain, 1, WAD)
    with reverts("ZeroAmount"):
        staker.send(staking_of(chain).functions.requestUnstake(0))


def test_unstake_before_cooldown_reverts(chain: Platform) -> None:
    """Given a request, when withdrawing at once and again a minute before the cooldown
    ends, then CooldownActive(availableAt) and no tokens move."""
    w3 = chain.client.w3
    token = coin(chain)
    staking = staking_of(chain)
    staker = staked(chain, 1, 50 * WAD)
    receipt = staker.send(staking.functions.requestUnstake(50 * WAD))
    available_at = block_time(w3, receipt) + WEEK
    with reverts("CooldownActive", available_at):
        staker.send(staking.functions.unstake())
    advance_time(w3, WEEK - 60)
    with reverts("CooldownActive", available_at):
        staker.send(staking.functions.unstake())
    assert balance(token, staker.address) == 0
    assert balance(token, staking.address) == 50 * WAD


def test_unstake_after_cooldown_returns_tokens(chain: Platform) -> None:
    """Given a request of 30 out of 100, when the cooldown has passed and the staker
    withdraws, then Unstaked(30), the tokens come back, pending clears and the remaining
    stake of 70 is untouched."""
    w3 = chain.client.w3
    token = coin(chain)
    staking = staking_of(chain)
    staker = staked(chain, 1, 100 * WAD)
    staker.send(staking.functions.requestUnstake(30 * WAD))
    advance_time(w3, WEEK + 1)

    receipt = staker.send(staking.functions.unstake())

    assert single_event(staking, "Unstaked", receipt) == {
        "account": staker.address,
        "amount": 30 * WAD,
    }
    assert balance(token, staker.address) == 30 * WAD
    assert balance(token, staking.address) == 70 * WAD
    assert list(staking.functions.pendingUnstake(staker.address).call()) == [0, 0]
    assert staking.functions.stakeOf(staker.address).call() == 70 * WAD
    assert staking.functions.totalStaked().call() == 70 * WAD


def test_unstake_with_nothing_pending_reverts(chain: Platform) -> None:
    """When withdrawing with no request, or a second time after a withdrawal, then
    NothingPending."""
    w3 = chain.client.w3
    staking = staking_of(chain)
    staker = staked(chain, 1, 10 * WAD)
    with reverts("NothingPending"):
        staker.send(staking.functions.unstake())
    staker.send(staking.functions.requestUnstake(10 * WAD))
    advance_time(w3, WEEK + 1)
    staker.send(staking.functions.unstake())
    with reverts("NothingPending"):
        staker.send(staking.functions.unstake())
    assert balance(coin(chain), staker.address) == 10 * WAD
