"""The DATACOIN bridge on two real anvils: lock on home -> 2-of-3 relayer signatures ->
mint on remote -> burn -> release on home; and every message the contracts must refuse."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from common.bridge import (
    BridgeDomain,
    BridgeMessage,
    digest,
    message_id,
    ordered_signatures,
    recover_signer,
    sign,
)
from common.chain import dev_account
from tests.contracts.bridge_helpers import (
    HOME_CHAIN_ID,
    REMOTE_CHAIN_ID,
    BridgedChains,
    burn,
    deliver,
    lock,
    release,
    signed,
)
from tests.contracts.helpers import (
    WAD,
    ZERO_ADDRESS,
    approve,
    balance,
    fund,
    latest_time,
    reverts,
    sign_permit,
    single_event,
)


def test_round_trip_lock_mint_spend_burn_release(bridged: BridgedChains) -> None:
    """Given 100 DATACOIN on home, when they are locked, delivered with 2 of 3 relayer
    signatures, partly spent on the remote marketplace, burned and released, then each
    side's events, balances and totals follow, and the remote platform took the bridged
    token as payment."""
    alice, bob = bridged.home.account(1), bridged.remote.account(2)
    fund(bridged.home, alice.address, 100 * WAD)
    vault, gateway, remote_coin = bridged.vault, bridged.gateway, bridged.remote_coin

    # lock on home
    to_remote = lock(bridged, alice, bob.address, 100 * WAD)
    assert to_remote.nonce == 1 and to_remote.amount == 100 * WAD
    assert to_remote.message_id == message_id(
        source_chain_id=HOME_CHAIN_ID, dest_chain_id=REMOTE_CHAIN_ID, sender=vault.address, nonce=1
    )
    assert (
        to_remote.message_id
        == vault.functions.messageIdOf(HOME_CHAIN_ID, REMOTE_CHAIN_ID, vault.address, 1).call()
    )
    assert vault.functions.totalLocked().call() == 100 * WAD
    assert balance(bridged.home_coin, vault.address) == 100 * WAD

    # relayed to remote: minted
    assert not gateway.functions.processed(to_remote.message_id).call()
    minted = single_event(gateway, "BridgeMinted", deliver(bridged, to_remote))
    assert minted == {
        "messageId": to_remote.message_id,
        "to": bob.address,
        "amount": 100 * WAD,
        "sourceChainId": HOME_CHAIN_ID,
    }
    assert gateway.functions.processed(to_remote.message_id).call()
    assert balance(remote_coin, bob.address) == 100 * WAD
    assert remote_coin.functions.totalSupply().call() == 100 * WAD

    # the remote marketplace is paid in the bridged token
    market = bridged.remote.client.contract("Marketplace")
    provider = bridged.remote.account(3)
    provider.send(market.functions.listDataset("bafy-meta", b"\x11" * 32, "tabular", 30 * WAD, 0))
    approve(bob, remote_coin, market.address, 30 * WAD)
    bob.send(market.functions.purchase(1, 30 * WAD))
    assert balance(remote_coin, bob.address) == 70 * WAD

    # burn on remote, released on home
    to_home = burn(bridged, bob, alice.address, 40 * WAD)
    assert to_home.nonce == 1
    assert to_home.message_id == message_id(
        source_chain_id=REMOTE_CHAIN_ID,
        dest_chain_id=HOME_CHAIN_ID,
        sender=gateway.address,
        nonce=1,
    )
    assert remote_coin.functions.totalSupply().call() == 60 * WAD
    released = single_event(vault, "BridgeReleased", release(bridged, to_home))
    assert released == {
        "messageId": to_home.message_id,
        "to": alice.address,
        "amount": 40 * WAD,
        "sourceChainId": REMOTE_CHAIN_ID,
    }
    assert balance(bridged.home_coin, alice.address) == 40 * WAD
    assert vault.functions.totalLocked().call() == 60 * WAD
    assert vault.functions.processed(to_home.message_id).call()


def test_burn_event_carries_the_message(bridged: BridgedChains) -> None:
    """Given bridged DATACOIN, when its holder burns some for another home address, then
    BridgeBurned names both, the amount, the home chain and the gateway's nonce."""
    alice, bob = bridged.home.account(1), bridged.remote.account(2)
    fund(bridged.home, alice.address, 10 * WAD)
    deliver(bridged, lock(bridged, alice, bob.address, 10 * WAD))
    receipt = bob.send(bridged.gateway.functions.burn(alice.address, 4 * WAD, HOME_CHAIN_ID))
    event = single_event(bridged.gateway, "BridgeBurned", receipt)
    assert {k: v for k, v in event.items() if k != "messageId"} == {
        "from": bob.address,
        "to": alice.address,
        "amount": 4 * WAD,
        "destChainId": HOME_CHAIN_ID,
        "nonce": 1,
    }


def test_lock_with_permit_needs_no_prior_approval(bridged: BridgedChains) -> None:
    """Given no allowance, when the holder locks with a signed permit, then it is one
    transaction and the vault holds the tokens."""
    holder = dev_account(1)
    fund(bridged.home, holder.address, 5 * WAD)
    vault = bridged.vault
    permit = sign_permit(
        bridged.home_coin,
        signer=holder,
        spender=vault.address,
        value=5 * WAD,
        deadline=latest_time(bridged.home.client.w3) + 600,
    )
    call = vault.functions.lockWithPermit(
        holder.address, 5 * WAD, REMOTE_CHAIN_ID, *permit.call_args()
    )
    receipt = bridged.home.account(1).send(call)
    assert single_event(vault, "BridgeLocked", receipt)["amount"] == 5 * WAD
    assert balance(bridged.home_coin, vault.address) == 5 * WAD


def test_python_digest_and_domain_match_the_contract(bridged: BridgedChains) -> None:
    """The EIP-712 digest common.bridge signs is the contract's hashMessage, and the
    contract's domain is ("DatacoinBridge", "1", its chain, itself)."""
    alice = bridged.home.account(1)
    fund(bridged.home, alice.address, WAD)
    message = lock(bridged, alice, alice.address, WAD)
    gateway = bridged.gateway
    assert gateway.functions.hashMessage(message.as_struct()).call() == digest(
        message, bridged.to_remote
    )
    domain = gateway.functions.eip712Domain().call()
    assert tuple(domain[1:5]) == ("DatacoinBridge", "1", REMOTE_CHAIN_ID, gateway.address)
    relayer = bridged.relayers[0]
    signature = sign(message, relayer, bridged.to_remote)
    assert recover_signer(message, bridged.to_remote, signature.signature) == relayer.address


def test_ordered_signatures_sorts_by_signer_and_keeps_one_each(bridged: BridgedChains) -> None:
    message = unit_message()
    domain = BridgeDomain(chain_id=1, verifying_contract="0x" + "11" * 20)
    sigs = [sign(message, r, domain) for r in reversed(bridged.relayers)]
    ordered = ordered_signatures([*sigs, sigs[0]])
    signers = [recover_signer(message, domain, s) for s in ordered]
    assert signers == sorted({r.address for r in bridged.relayers}, key=lambda a: int(a, 16))


def unit_message() -> BridgeMessage:
    """A message with arbitrary fields (for signing only)."""
    return BridgeMessage(
        message_id=b"\x01" * 32,
        source_chain_id=1,
        dest_chain_id=2,
        from_="0x" + "22" * 20,
        to="0x" + "33" * 20,
        amount=1,
        nonce=1,
    )


# -- refused messages -------------------------------------------------------------------


def locked(bridged: BridgedChains, amount: int = 10 * WAD) -> BridgeMessage:
    """A lock of `amount` by dev account 1 for dev account 2, not yet delivered."""
    alice = bridged.home.account(1)
    fund(bridged.home, alice.address, amount)
    return lock(bridged, alice, bridged.remote.account(2).address, amount)


def test_replayed_message_is_refused_on_both_sides(bridged: BridgedChains) -> None:
    message = locked(bridged)
    deliver(bridged, message)
    with reverts("AlreadyProcessed", message.message_id):
        deliver(bridged, message)
    with reverts("AlreadyProcessed", message.message_id):  # other signers: still the same id
        deliver(bridged, message, signed(message, bridged.to_remote, bridged.relayers[1:]))
    back = burn(bridged, bridged.remote.account(2), bridged.home.account(1).address, WAD)
    release(bridged, back)
    with reverts("AlreadyProcessed", back.message_id):
        release(bridged, back)


def test_forged_signature_is_refused(bridged: BridgedChains) -> None:
    """A key outside the relayer set, a tampered amount, and a signature made for the
    vault's domain all recover to a signer that is not a relayer."""
    message = locked(bridged)
    outsider = dev_account(5)
    forged = signed(message, bridged.to_remote, [bridged.relayers[0], outsider])
    with reverts("UnknownSigner", outsider.address):
        deliver(bridged, message, forged)
    tampered = replace(message, amount=message.amount * 10)
    with reverts("UnknownSigner"):
        deliver(bridged, tampered, signed(message, bridged.to_remote, bridged.relayers[:2]))
    other_domain = signed(message, bridged.to_home, bridged.relayers[:2])
    with reverts("UnknownSigner"):
        deliver(bridged, message, other_domain)
    with reverts("InvalidSignature", 0):
        deliver(bridged, message, [b"\x00" * 65, b"\x01" * 64])
    assert not bridged.gateway.functions.processed(message.message_id).call()


def test_under_threshold_duplicated_and_unsorted_signatures_are_refused(
    bridged: BridgedChains,
) -> None:
    message = locked(bridged)
    one = signed(message, bridged.to_remote, bridged.relayers[:1])
    with reverts("BelowThreshold", 1, 2):
        deliver(bridged, message, one)
    with reverts("DuplicateSigner", bridged.relayers[0].address):
        deliver(bridged, message, one + one)
    two = signed(message, bridged.to_remote, bridged.relayers[:2])
    with reverts("SignersNotSorted", 1):
        deliver(bridged, message, list(reversed(two)))
    # All three, sorted, is more than enough.
    deliver(bridged, message, signed(message, bridged.to_remote, bridged.relayers))


def test_wrong_chains_and_ids_are_refused(bridged: BridgedChains) -> None:
    message = locked(bridged)
    relayers = bridged.relayers[:2]

    def attempt(m: BridgeMessage) -> None:
        deliver(bridged, m, signed(m, bridged.to_remote, relayers))

    with reverts("WrongDestination", HOME_CHAIN_ID):
        attempt(replace(message, dest_chain_id=HOME_CHAIN_ID))
    with reverts("WrongSource", 1):
        attempt(replace(message, source_chain_id=1))
    with reverts("InvalidMessageId"):
        attempt(replace(message, message_id=b"\x42" * 32))
    with reverts("InvalidMessageId"):  # a nonce the id was not derived from
        attempt(replace(message, nonce=message.nonce + 1))
    # The same message signed for the gateway, submitted to the vault: not for home.
    with reverts("WrongDestination", REMOTE_CHAIN_ID):
        release(bridged, message, signed(message, bridged.to_remote, relayers))


def test_release_cannot_exceed_the_locked_amount(bridged: BridgedChains) -> None:
    """Even with valid signatures, a release of more than the vault holds fails."""
    locked(bridged, 3 * WAD)
    gateway = bridged.gateway.address
    fake = replace(
        unit_message(),
        source_chain_id=REMOTE_CHAIN_ID,
        dest_chain_id=HOME_CHAIN_ID,
        amount=4 * WAD,
        nonce=77,
        message_id=message_id(
            source_chain_id=REMOTE_CHAIN_ID, dest_chain_id=HOME_CHAIN_ID, sender=gateway, nonce=77
        ),
    )
    with reverts("ExceedsLocked", 4 * WAD, 3 * WAD):
        release(bridged, fake)


def test_lock_and_burn_check_their_arguments(bridged: BridgedChains) -> None:
    alice = bridged.home.account(1)
    fund(bridged.home, alice.address, 10 * WAD)
    vault, gateway = bridged.vault, bridged.gateway
    approve(alice, bridged.home_coin, vault.address, 10 * WAD)
    with reverts("UnknownDestination", 1):
        alice.send(vault.functions.lock(alice.address, WAD, 1))
    with reverts("UnknownDestination", HOME_CHAIN_ID):
        alice.send(vault.functions.lock(alice.address, WAD, HOME_CHAIN_ID))
    with reverts("InvalidRecipient", ZERO_ADDRESS):
        alice.send(vault.functions.lock(ZERO_ADDRESS, WAD, REMOTE_CHAIN_ID))
    with reverts("InvalidRecipient", gateway.address):  # would strand the tokens there
        alice.send(vault.functions.lock(gateway.address, WAD, REMOTE_CHAIN_ID))
    with reverts("ZeroAmount"):
        alice.send(vault.functions.lock(alice.address, 0, REMOTE_CHAIN_ID))
    with reverts("ERC20InsufficientAllowance"):
        alice.send(vault.functions.lock(alice.address, 11 * WAD, REMOTE_CHAIN_ID))
    bob = bridged.remote.account(2)
    with reverts("ERC20InsufficientBalance"):
        bob.send(gateway.functions.burn(alice.address, WAD, HOME_CHAIN_ID))
    with reverts("InvalidRecipient", vault.address):
        bob.send(gateway.functions.burn(vault.address, WAD, HOME_CHAIN_ID))


# -- the relayer set ----------------------------------------------------------------------


def test_rotation_retires_the_old_set(bridged: BridgedChains) -> None:
    """Given relayers {7, 8, 9}, 2 of 3, when the owner rotates to {8, 9, 4}, 3 of 3, then
    RelayerSetChanged says so, 7's signature no longer counts and 8 + 9 are too few."""
    gateway = bridged.gateway
    message = locked(bridged)
    new_set = [bridged.relayers[1], bridged.relayers[2], dev_account(4)]
    receipt = bridged.remote.deployer.send(
        gateway.functions.setRelayers([a.address for a in new_set], 3)
    )
    assert single_event(gateway, "RelayerSetChanged", receipt) == {
        "epoch": 2,
        "relayers": [a.address for a in new_set],
        "threshold": 3,
    }
    assert gateway.functions.relayers().call() == [a.address for a in new_set]
    assert not gateway.functions.isRelayer(bridged.relayers[0].address).call()
    with reverts("UnknownSigner", bridged.relayers[0].address):
        deliver(bridged, message, signed(message, bridged.to_remote, bridged.relayers))
    with reverts("BelowThreshold", 2, 3):
        deliver(bridged, message, signed(message, bridged.to_remote, new_set[:2]))
    deliver(bridged, message, signed(message, bridged.to_remote, new_set))


def test_rotation_is_owner_only_and_validated(bridged: BridgedChains) -> None:
    vault, owner = bridged.vault, bridged.home.deployer
    stranger = bridged.home.account(5)
    addresses = [r.address for r in bridged.relayers]
    with reverts("OwnableUnauthorizedAccount", stranger.address):
        stranger.send(vault.functions.setRelayers(addresses, 1))
    with reverts("InvalidThreshold", 0, 3):
        owner.send(vault.functions.setRelayers(addresses, 0))
    with reverts("InvalidThreshold", 4, 3):
        owner.send(vault.functions.setRelayers(addresses, 4))
    with reverts("InvalidRelayerCount", 0):
        owner.send(vault.functions.setRelayers([], 1))
    with reverts("InvalidRelayer", ZERO_ADDRESS):
        owner.send(vault.functions.setRelayers([*addresses, ZERO_ADDRESS], 2))
    with reverts("DuplicateRelayer", addresses[1]):
        owner.send(vault.functions.setRelayers([*addresses, addresses[1]], 2))
    assert vault.functions.relayerEpoch().call() == 1
    assert vault.functions.threshold().call() == 2


# -- the bridged token ----------------------------------------------------------------------


def test_only_the_gateway_mints_and_burns(bridged: BridgedChains) -> None:
    coin, deployer = bridged.remote_coin, bridged.remote.deployer
    stranger = bridged.remote.account(5)
    assert coin.functions.gateway().call() == bridged.gateway.address
    for sender in (deployer, stranger):
        with reverts("NotGateway", sender.address):
            sender.send(coin.functions.mint(sender.address, WAD))
        with reverts("NotGateway", sender.address):
            sender.send(coin.functions.burn(sender.address, 0))
    with reverts("GatewayAlreadySet", bridged.gateway.address):
        deployer.send(coin.functions.setGateway(stranger.address))
    with reverts("NotDeployer", stranger.address):
        stranger.send(coin.functions.setGateway(stranger.address))


def test_bridged_token_looks_like_datacoin(bridged: BridgedChains) -> None:
    """Same name, symbol, decimals and permit domain name; every function the platform
    calls on DataCoin exists on it with the same signature."""
    home, remote = bridged.home_coin, bridged.remote_coin
    for view in ("name", "symbol", "decimals"):
        assert remote.functions[view]().call() == home.functions[view]().call()
    assert remote.functions.eip712Domain().call()[1] == "DATACOIN"
    assert remote.functions.totalSupply().call() == 0

    def signatures(abi: Any) -> set[str]:
        return {
            f"{i['name']}({','.join(x['type'] for x in i['inputs'])})"
            for i in abi
            if i["type"] == "function"
        }

    used = {
        "transfer(address,uint256)",
        "transferFrom(address,address,uint256)",
        "approve(address,uint256)",
        "allowance(address,address)",
        "balanceOf(address)",
        "totalSupply()",
        "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)",
        "nonces(address)",
        "DOMAIN_SEPARATOR()",
        "eip712Domain()",
        "delegate(address)",
        "delegates(address)",
        "getVotes(address)",
        "getPastVotes(address,uint256)",
        "getPastTotalSupply(uint256)",
        "multicall(bytes[])",
        "clock()",
    }
    assert used <= signatures(home.abi) & signatures(remote.abi)


def test_bridged_token_permit_and_votes_work(bridged: BridgedChains) -> None:
    alice, bob = bridged.home.account(1), bridged.remote.account(2)
    fund(bridged.home, alice.address, 8 * WAD)
    deliver(bridged, lock(bridged, alice, bob.address, 8 * WAD))
    coin = bridged.remote_coin
    bob.send(coin.functions.delegate(bob.address))
    assert coin.functions.getVotes(bob.address).call() == 8 * WAD
    spender = bridged.remote.account(3)
    permit = sign_permit(
        coin,
        signer=dev_account(2),
        spender=spender.address,
        value=WAD,
        deadline=latest_time(bridged.remote.client.w3) + 600,
    )
    spender.send(coin.functions.permit(bob.address, spender.address, WAD, *permit.call_args()))
    assert coin.functions.allowance(bob.address, spender.address).call() == WAD
