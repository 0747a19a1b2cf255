"""Staking's voting units: active stake, checkpointed by block, delegated (to oneself on a
first stake). The money path's invariant, checked on random sequences: the votes add up
to the active stake, and the contract holds exactly the active plus the pending stake."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from web3 import Web3

from common.chain import RevertError
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    ZERO_ADDRESS,
    advance_time,
    balance,
    coin,
    events,
    fund,
    reverts,
    single_event,
)
from tests.contracts.test_staking import WEEK, staked, staking_of


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    return w3.provider.make_request(method, params)["result"]  # type: ignore[arg-type]


def test_first_stake_delegates_to_oneself(chain: Platform) -> None:
    """Given an account that never delegated, when it stakes 40, then DelegateChanged(0 ->
    itself) and DelegateVotesChanged(0 -> 40): its stake votes at once, no extra step."""
    staking = staking_of(chain)
    staker = chain.account(1)
    fund(chain, staker.address, 40 * WAD)
    chain.account(1).send(coin(chain).functions.approve(staking.address, 40 * WAD))

    receipt = staker.send(staking.functions.stake(40 * WAD))

    assert single_event(staking, "DelegateChanged", receipt) == {
        "delegator": staker.address,
        "fromDelegate": ZERO_ADDRESS,
        "toDelegate": staker.address,
    }
    assert single_event(staking, "DelegateVotesChanged", receipt) == {
        "delegate": staker.address,
        "previousVotes": 0,
        "newVotes": 40 * WAD,
    }
    assert staking.functions.delegates(staker.address).call() == staker.address
    assert staking.functions.getVotes(staker.address).call() == 40 * WAD


def test_requested_unstake_stops_voting_at_once_and_withdrawal_moves_no_votes(
    chain: Platform,
) -> None:
    """Given 100 staked, when 30 are requested back, then the votes drop to 70 in that
    block (the past stays checkpointed); the withdrawal after the cooldown changes no
    votes and emits no vote event."""
    w3 = chain.client.w3
    staking = staking_of(chain)
    staker = staked(chain, 1, 100 * WAD)
    staked_block = w3.eth.block_number

    request = staker.send(staking.functions.requestUnstake(30 * WAD))

    assert single_event(staking, "DelegateVotesChanged", request)["newVotes"] == 70 * WAD
    assert staking.functions.getVotes(staker.address).call() == 70 * WAD
    assert staking.functions.getPastVotes(staker.address, staked_block).call() == 100 * WAD
    advance_time(w3, WEEK + 1)
    withdrawal = staker.send(staking.functions.unstake())
    assert events(staking, "DelegateVotesChanged", withdrawal) == []
    assert staking.functions.getVotes(staker.address).call() == 70 * WAD


def test_delegation_moves_votes_and_later_stakes_follow_it(chain: Platform) -> None:
    """Given 50 staked by A, when A delegates to B and stakes 20 more, then B has 70
    votes and A none; delegating to the zero address is refused."""
    staking = staking_of(chain)
    a = staked(chain, 1, 50 * WAD, funded=70 * WAD)
    b = chain.account(2)

    a.send(staking.functions.delegate(b.address))
    chain.account(1).send(coin(chain).functions.approve(staking.address, 20 * WAD))
    a.send(staking.functions.stake(20 * WAD))

    assert staking.functions.getVotes(b.address).call() == 70 * WAD
    assert staking.functions.getVotes(a.address).call() == 0
    with reverts("ZeroDelegate"):
        a.send(staking.functions.delegate(ZERO_ADDRESS))


class VotesMachine(RuleBasedStateMachine):
    """Random stakes, unstake requests, withdrawals and delegations among five accounts,
    on a snapshot of the session's chain (reverted after each example)."""

    chain: Platform

    def __init__(self) -> None:
        super().__init__()
        self.w3 = self.chain.client.w3
        self.snapshot = rpc(self.w3, "evm_snapshot", [])
        self.staking = staking_of(self.chain)
        self.accounts = [self.chain.account(i) for i in range(1, 6)]
        token = coin(self.chain)
        for account in self.accounts:
            fund(self.chain, account.address, 1_000 * WAD)
            account.send(token.functions.approve(self.staking.address, 2**256 - 1))

    @rule(who=st.integers(0, 4), amount=st.integers(1, 300 * WAD))
    def stake(self, who: int, amount: int) -> None:
        self.accounts[who].send(self.staking.functions.stake(amount))

    @rule(who=st.integers(0, 4), share=st.floats(0.01, 1.0))
    def request_unstake(self, who: int, share: float) -> None:
        account = self.accounts[who]
        active = self.staking.functions.stakeOf(account.address).call()
        if active:
            amount = max(1, int(active * share))
            account.send(self.staking.functions.requestUnstake(amount))

    @rule(who=st.integers(0, 4))
    def withdraw_after_cooldown(self, who: int) -> None:
        advance_time(self.w3, WEEK + 1)
        try:
            self.accounts[who].send(self.staking.functions.unstake())
        except RevertError as exc:
            assert exc.error == "NothingPending"

    @rule(who=st.integers(0, 4), to=st.integers(0, 4))
    def delegate(self, who: int, to: int) -> None:
        self.accounts[who].send(self.staking.functions.delegate(self.accounts[to].address))

    @invariant()
    def votes_are_the_active_stake(self) -> None:
        functions = self.staking.functions
        stakes = {a.address: functions.stakeOf(a.address).call() for a in self.accounts}
        total = functions.totalStaked().call()
        assert sum(stakes.values()) == total
        # Each account's votes are the active stake of those delegating to it.
        expected = dict.fromkeys(stakes, 0)
        for address, amount in stakes.items():
            delegate = functions.delegates(address).call()
            if delegate != ZERO_ADDRESS:
                expected[delegate] += amount
            else:
                assert amount == 0  # only an account that never staked has no delegate
        assert {a: functions.getVotes(a).call() for a in stakes} == expected
        # The total voting units (what quorum is a fraction of) are the total stake:
        # read at the latest block, from a call in the block after it.
        latest = self.w3.eth.block_number
        past_total = functions.getPastTotalSupply(latest).call(block_identifier="pending")
        assert past_total == total
        pending = sum(functions.pendingUnstake(a).call()[0] for a in stakes)
        assert balance(coin(self.chain), self.staking.address) == total + pending

    def teardown(self) -> None:
        rpc(self.w3, "evm_revert", [self.snapshot])


def test_votes_always_equal_active_stake(chain: Platform) -> None:
    """Any sequence of stakes, unstake requests, withdrawals and delegations keeps the
    votes equal to the active stake, per delegate and in total."""
    VotesMachine.chain = chain
    run_state_machine_as_test(
        VotesMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
