"""The bridge's supply invariant on random sequences of locks, deliveries (in any order),
burns, releases and replays, on two real anvils:

    vault.totalLocked == the vault's DATACOIN balance
                      == bridged supply + locked-not-yet-delivered + burned-not-yet-released

(a burned, unreleased amount left the remote supply but is still in the vault), and every
message is delivered or released at most once."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract

from common.bridge import BridgeMessage
from tests.contracts.bridge_helpers import (
    HOME_CHAIN_ID,
    REMOTE_CHAIN_ID,
    BridgedChains,
    burn,
    deliver,
    message_of,
    release,
    rpc,
    signed,
)
from tests.contracts.helpers import WAD, balance, fund, reverts, single_event

#: Which relayers sign (indexes into the 2-of-3 set): any two, or all three.
SIGNER_SETS = ((0, 1), (0, 2), (1, 2), (0, 1, 2))
ACCOUNTS = (1, 2, 3)
MAX_UINT = 2**256 - 1
#: After a delivery or release: replay none, or one processed message (any, by index).
REPLAY = st.none() | st.integers(0, 99)


class BridgeMachine(RuleBasedStateMachine):
    """Three holders on each chain move DATACOIN back and forth; the model keeps the
    messages in flight each way and those already processed."""

    chains: BridgedChains

    def __init__(self) -> None:
        super().__init__()
        c = self.chains
        self.w3s = (c.home.client.w3, c.remote.client.w3)
        self.snapshots = [rpc(w3, "evm_snapshot", []) for w3 in self.w3s]
        self.heads = [w3.eth.block_number for w3 in self.w3s]  # events after these count
        self.home = [c.home.account(i) for i in ACCOUNTS]
        self.remote = [c.remote.account(i) for i in ACCOUNTS]
        self.vault, self.gateway = c.vault, c.gateway
        for holder in self.home:
            fund(c.home, holder.address, 1_000 * WAD)
            holder.send(c.home_coin.functions.approve(self.vault.address, MAX_UINT))
        self.to_remote: dict[bytes, BridgeMessage] = {}  # locked, not yet delivered
        self.to_home: dict[bytes, BridgeMessage] = {}  # burned, not yet released
        self.processed: dict[bytes, BridgeMessage] = {}  # delivered or released
        self.bridged: dict[str, int] = {h.address: 0 for h in self.remote}  # remote balances

    # -- moves -------------------------------------------------------------------------
    @rule(
        who=st.sampled_from(range(3)),
        to=st.sampled_from(range(3)),
        amount=st.integers(1, 300 * WAD),
    )
    def lock(self, who: int, to: int, amount: int) -> None:
        call = self.vault.functions.lock(self.remote[to].address, amount, REMOTE_CHAIN_ID)
        event = single_event(self.vault, "BridgeLocked", self.home[who].send(call))
        message = message_of(event, source_chain_id=HOME_CHAIN_ID)
        self.to_remote[message.message_id] = message

    @precondition(lambda self: self.to_remote)
    @rule(pick=st.integers(0, 99), signers=st.sampled_from(SIGNER_SETS), replay=REPLAY)
    def deliver_any(self, pick: int, signers: tuple[int, ...], replay: int | None) -> None:
        """Deliver one in-flight lock, not necessarily the oldest (then maybe replay)."""
        message = self.to_remote.pop(list(self.to_remote)[pick % len(self.to_remote)])
        self._submit(message, signers)
        self.bridged[message.to] += message.amount
        self._replay(replay, signers)

    @precondition(lambda self: any(self.bridged.values()))
    @rule(pick=st.integers(0, 99), to=st.sampled_from(range(3)), share=st.floats(0.01, 1.0))
    def burn_some(self, pick: int, to: int, share: float) -> None:
        """A holder of bridged DATACOIN burns some of it back to a home account."""
        holders = [h for h in self.remote if self.bridged[h.address]]
        holder = holders[pick % len(holders)]
        amount = max(1, int(self.bridged[holder.address] * share))
        message = burn(self.chains, holder, self.home[to].address, amount)
        self.to_home[message.message_id] = message
        self.bridged[holder.address] -= amount

    @precondition(lambda self: self.to_home)
    @rule(pick=st.integers(0, 99), signers=st.sampled_from(SIGNER_SETS), replay=REPLAY)
    def release_any(self, pick: int, signers: tuple[int, ...], replay: int | None) -> None:
        """Release one in-flight burn, not necessarily the oldest (then maybe replay)."""
        message = self.to_home.pop(list(self.to_home)[pick % len(self.to_home)])
        self._submit(message, signers)
        self._replay(replay, signers)

    def _submit(self, message: BridgeMessage, signers: tuple[int, ...]) -> None:
        """`signers` sign `message` for its destination, which then processes it."""
        relayers = [self.chains.relayers[i] for i in signers]
        if message.dest_chain_id == REMOTE_CHAIN_ID:
            deliver(self.chains, message, signed(message, self.chains.to_remote, relayers))
        else:
            release(self.chains, message, signed(message, self.chains.to_home, relayers))
        self.processed[message.message_id] = message

    def _replay(self, pick: int | None, signers: tuple[int, ...]) -> None:
        """Submit an already processed message again (a relayer's retry, an attacker's
        replay), whichever signed it: refused, nothing changes."""
        if pick is None:
            return
        message = list(self.processed.values())[pick % len(self.processed)]
        with reverts("AlreadyProcessed", message.message_id):
            self._submit(message, signers)

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def supply_is_conserved(self) -> None:
        locked = self.vault.functions.totalLocked().call()
        assert locked == balance(self.chains.home_coin, self.vault.address)
        supply = self.chains.remote_coin.functions.totalSupply().call()
        in_flight = sum(m.amount for m in (*self.to_remote.values(), *self.to_home.values()))
        assert locked == supply + in_flight
        coin = self.chains.remote_coin
        assert {a: balance(coin, a) for a in self.bridged} == self.bridged

    @invariant()
    def each_message_is_processed_at_most_once(self) -> None:
        minted = self._ids(self.gateway, "BridgeMinted", 1)
        released = self._ids(self.vault, "BridgeReleased", 0)
        assert len(minted) == len(set(minted)) and len(released) == len(set(released))
        assert set(minted) | set(released) == set(self.processed)
        for message_id in (*self.to_remote, *self.to_home):
            side = self.gateway if message_id in self.to_remote else self.vault
            assert not side.functions.processed(message_id).call()

    def _ids(self, contract: Contract, event: str, chain: int) -> list[bytes]:
        head = self.heads[chain]
        logs = getattr(contract.events, event)().get_logs(from_block=head)
        return [bytes(log["args"]["messageId"]) for log in logs if log["blockNumber"] > head]

    def teardown(self) -> None:
        for w3, snapshot in zip(self.w3s, self.snapshots, strict=True):
            rpc(w3, "evm_revert", [snapshot])


def test_supply_invariant_under_random_bridge_traffic(bridged: BridgedChains) -> None:
    """Any sequence of locks, out-of-order deliveries, burns, releases and replays keeps
    the vault's lock equal to the bridged supply plus what is in flight, and never
    processes a message twice."""
    BridgeMachine.chains = bridged
    run_state_machine_as_test(
        BridgeMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
