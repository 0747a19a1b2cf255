"""DataCoin (capped, permit, votes, role-gated mint) and the dev Faucet, on a real anvil."""

from __future__ import annotations

from web3 import Web3
from web3.contract import Contract

from common.chain import Transactor, dev_account
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    ZERO_ADDRESS,
    advance_time,
    balance,
    block_time,
    coin,
    deploy,
    fund,
    latest_time,
    reverts,
    sign_permit,
    single_event,
)

DEFAULT_ADMIN_ROLE = b"\x00" * 32
MINTER_ROLE = Web3.keccak(text="MINTER_ROLE")


def grant_minter(chain: Platform, to: str) -> None:
    chain.deployer.send(coin(chain).functions.grantRole(MINTER_ROLE, to))


# --- metadata and supply ------------------------------------------------------------------


def test_metadata_and_initial_supply(chain: Platform) -> None:
    """Given a fresh deployment, then the token reports its name, symbol, decimals, cap,
    and the whole initial supply sits with the deployer (the admin)."""
    token = coin(chain)
    assert token.functions.name().call() == "DATACOIN"
    assert token.functions.symbol().call() == "DATACOIN"
    assert token.functions.decimals().call() == 18
    assert token.functions.cap().call() == chain.config.supply_cap == 1_000_000_000 * WAD
    assert token.functions.totalSupply().call() == chain.config.initial_supply
    assert balance(token, chain.deployer.address) == 100_000_000 * WAD
    assert token.functions.hasRole(DEFAULT_ADMIN_ROLE, chain.deployer.address).call()
    assert token.functions.MINTER_ROLE().call() == MINTER_ROLE
    # The deployer administers roles but does not mint by itself.
    assert not token.functions.hasRole(MINTER_ROLE, chain.deployer.address).call()


def test_deploy_wires_contracts(chain: Platform) -> None:
    """Given the deployment, then every contract points at DataCoin and the faucet mints."""
    token = coin(chain)
    for name in ("Marketplace", "Staking", "TrainingLog", "Faucet"):
        assert chain.client.contract(name).functions.token().call() == token.address
    faucet = chain.client.contract("Faucet")
    assert token.functions.hasRole(MINTER_ROLE, faucet.address).call()


def test_transfer_moves_balances_and_emits_transfer(chain: Platform) -> None:
    """When the deployer transfers 5 tokens, then balances move and Transfer is emitted."""
    token = coin(chain)
    to = chain.account(1).address
    before = balance(token, chain.deployer.address)
    receipt = chain.deployer.send(token.functions.transfer(to, 5 * WAD))
    assert single_event(token, "Transfer", receipt) == {
        "from": chain.deployer.address,
        "to": to,
        "value": 5 * WAD,
    }
    assert balance(token, to) == 5 * WAD
    assert balance(token, chain.deployer.address) == before - 5 * WAD


def test_transfer_beyond_balance_reverts(chain: Platform) -> None:
    """Given an empty account, when it transfers 1 wei, then ERC20InsufficientBalance."""
    poor = chain.account(7)
    with reverts("ERC20InsufficientBalance", poor.address, 0, 1):
        poor.send(coin(chain).functions.transfer(chain.deployer.address, 1))


# --- minting ------------------------------------------------------------------------------


def test_mint_without_minter_role_reverts(chain: Platform) -> None:
    """Given an account without MINTER_ROLE (even the admin), when it mints, then
    AccessControlUnauthorizedAccount(account, MINTER_ROLE)."""
    token = coin(chain)
    for tx in (chain.account(1), chain.deployer):
        with reverts("AccessControlUnauthorizedAccount", tx.address, MINTER_ROLE):
            tx.send(token.functions.mint(tx.address, 1))
    assert token.functions.totalSupply().call() == chain.config.initial_supply


def test_minter_mints_and_supply_grows(chain: Platform) -> None:
    """Given MINTER_ROLE granted (RoleGranted), when minting, then balance and supply grow."""
    token = coin(chain)
    minter = chain.account(1)
    receipt = chain.deployer.send(token.functions.grantRole(MINTER_ROLE, minter.address))
    assert single_event(token, "RoleGranted", receipt) == {
        "role": MINTER_ROLE,
        "account": minter.address,
        "sender": chain.deployer.address,
    }
    to = chain.account(2).address
    receipt = minter.send(token.functions.mint(to, 42 * WAD + 1))
    assert single_event(token, "Transfer", receipt) == {
        "from": ZERO_ADDRESS,
        "to": to,
        "value": 42 * WAD + 1,
    }
    assert balance(token, to) == 42 * WAD + 1
    assert token.functions.totalSupply().call() == chain.config.initial_supply + 42 * WAD + 1


def test_only_admin_grants_roles(chain: Platform) -> None:
    """Given a non-admin, when it grants itself MINTER_ROLE, then
    AccessControlUnauthorizedAccount(account, DEFAULT_ADMIN_ROLE)."""
    intruder = chain.account(3)
    with reverts("AccessControlUnauthorizedAccount", intruder.address, DEFAULT_ADMIN_ROLE):
        intruder.send(coin(chain).functions.grantRole(MINTER_ROLE, intruder.address))


def test_revoked_minter_can_no_longer_mint(chain: Platform) -> None:
    """Given a minter whose role is revoked, when it mints, then it is refused."""
    token = coin(chain)
    minter = chain.account(1)
    grant_minter(chain, minter.address)
    minter.send(token.functions.mint(minter.address, 1))
    chain.deployer.send(token.functions.revokeRole(MINTER_ROLE, minter.address))
    with reverts("AccessControlUnauthorizedAccount", minter.address, MINTER_ROLE):
        minter.send(token.functions.mint(minter.address, 1))


def test_cap_is_enforced(chain: Platform) -> None:
    """Given a minter, when it mints exactly up to the cap, then it succeeds; when it mints
    one more wei, then ERC20ExceededCap(cap + 1, cap) and the supply stays at the cap."""
    token = coin(chain)
    cap = chain.config.supply_cap
    grant_minter(chain, chain.deployer.address)
    room = cap - token.functions.totalSupply().call()
    assert room == 900_000_000 * WAD
    chain.deployer.send(token.functions.mint(chain.account(1).address, room))
    assert token.functions.totalSupply().call() == cap
    with reverts("ERC20ExceededCap", cap + 1, cap):
        chain.deployer.send(token.functions.mint(chain.account(1).address, 1))
    assert token.functions.totalSupply().call() == cap


def test_single_mint_over_cap_reverts(chain: Platform) -> None:
    """When one mint would jump past the cap, then ERC20ExceededCap with the would-be supply."""
    token = coin(chain)
    grant_minter(chain, chain.deployer.address)
    cap = chain.config.supply_cap
    too_much = cap - chain.config.initial_supply + 7
    with reverts("ERC20ExceededCap", cap + 7, cap):
        chain.deployer.send(token.functions.mint(chain.deployer.address, too_much))


# --- EIP-2612 permit ----------------------------------------------------------------------


def test_permit_domain(chain: Platform) -> None:
    """The EIP-712 domain is ("DATACOIN", "1", chain id, token address)."""
    token = coin(chain)
    domain = token.functions.eip712Domain().call()
    assert list(domain[1:5]) == ["DATACOIN", "1", chain.client.w3.eth.chain_id, token.address]


def test_permit_sets_allowance_and_spender_pulls(chain: Platform) -> None:
    """Given a signed permit from an owner who never sent a transaction, when a relayer
    submits it, then the allowance is set (Approval event), the nonce advances, and the
    spender can transferFrom the owner."""
    w3 = chain.client.w3
    token = coin(chain)
    owner = dev_account(4)
    spender = chain.account(5)
    fund(chain, owner.address, 100 * WAD)
    deadline = latest_time(w3) + 3600
    sig = sign_permit(
        token, signer=owner, spender=spender.address, value=60 * WAD, deadline=deadline
    )
    assert token.functions.nonces(owner.address).call() == 0

    receipt = chain.account(6).send(
        token.functions.permit(owner.address, spender.address, 60 * WAD, *sig.call_args())
    )

    assert single_event(token, "Approval", receipt) == {
        "owner": owner.address,
        "spender": spender.address,
        "value": 60 * WAD,
    }
    assert token.functions.allowance(owner.address, spender.address).call() == 60 * WAD
    assert token.functions.nonces(owner.address).call() == 1
    spender.send(token.functions.transferFrom(owner.address, spender.address, 60 * WAD))
    assert balance(token, owner.address) == 40 * WAD
    assert balance(token, spender.address) == 60 * WAD
    assert token.functions.allowance(owner.address, spender.address).call() == 0


def test_permit_replay_is_rejected(chain: Platform) -> None:
    """Given a permit already used, when it is submitted again, then ERC2612InvalidSigner
    (the nonce moved on, so the recovered signer is someone else)."""
    w3 = chain.client.w3
    token = coin(chain)
    owner = dev_account(4)
    spender = chain.account(5).address
    deadline = latest_time(w3) + 3600
    sig = sign_permit(token, signer=owner, spender=spender, value=WAD, deadline=deadline)
    call = token.functions.permit(owner.address, spender, WAD, *sig.call_args())
    chain.account(6).send(call)
    with reverts("ERC2612InvalidSigner"):
        chain.account(6).send(call)
    assert token.functions.nonces(owner.address).call() == 1


def test_permit_with_wrong_signer_is_rejected(chain: Platform) -> None:
    """Given a permit signed by account 3 but claiming owner 4, then ERC2612InvalidSigner
    naming the recovered signer and the claimed owner."""
    w3 = chain.client.w3
    token = coin(chain)
    claimed = dev_account(4).address
    spender = chain.account(5).address
    deadline = latest_time(w3) + 3600
    # Account 3 signs a message whose owner field says account 4.
    signer = dev_account(3)
    sig = sign_permit(
        token, signer=signer, owner=claimed, spender=spender, value=WAD, deadline=deadline
    )
    with reverts("ERC2612InvalidSigner", signer.address, claimed):
        chain.account(6).send(token.functions.permit(claimed, spender, WAD, *sig.call_args()))
    assert token.functions.allowance(claimed, spender).call() == 0


def test_expired_permit_is_rejected(chain: Platform) -> None:
    """Given a permit whose deadline has passed, then ERC2612ExpiredSignature(deadline)."""
    w3 = chain.client.w3
    token = coin(chain)
    owner = dev_account(4)
    spender = chain.account(5).address
    deadline = latest_time(w3) - 1
    sig = sign_permit(token, signer=owner, spender=spender, value=WAD, deadline=deadline)
    with reverts("ERC2612ExpiredSignature", deadline):
        chain.account(6).send(token.functions.permit(owner.address, spender, WAD, *sig.call_args()))


# --- votes --------------------------------------------------------------------------------


def test_votes_follow_delegation_and_transfers(chain: Platform) -> None:
    """Given a holder with 100 tokens, then it has no votes until it delegates; when it
    self-delegates, then getVotes equals its balance; when it transfers 30 away, its votes
    drop to 70; when it delegates to another account, the votes move there."""
    w3 = chain.client.w3
    token = coin(chain)
    holder = chain.account(1)
    other = chain.account(2).address
    delegatee = chain.account(3).address
    fund(chain, holder.address, 100 * WAD)
    assert token.functions.getVotes(holder.address).call() == 0
    assert token.functions.delegates(holder.address).call() == ZERO_ADDRESS

    receipt = holder.send(token.functions.delegate(holder.address))
    assert single_event(token, "DelegateChanged", receipt) == {
        "delegator": holder.address,
        "fromDelegate": ZERO_ADDRESS,
        "toDelegate": holder.address,
    }
    assert single_event(token, "DelegateVotesChanged", receipt) == {
        "delegate": holder.address,
        "previousVotes": 0,
        "newVotes": 100 * WAD,
    }
    delegated_block = receipt["blockNumber"]
    assert token.functions.getVotes(holder.address).call() == 100 * WAD

    holder.send(token.functions.transfer(other, 30 * WAD))
    assert token.functions.getVotes(holder.address).call() == 70 * WAD
    assert token.functions.getVotes(other).call() == 0  # receiver never delegated

    holder.send(token.functions.delegate(delegatee))
    assert token.functions.delegates(holder.address).call() == delegatee
    assert token.functions.getVotes(holder.address).call() == 0
    assert token.functions.getVotes(delegatee).call() == 70 * WAD

    # Checkpoints: the past is readable by block number (clock = block number).
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert token.functions.getPastVotes(holder.address, delegated_block).call() == 100 * WAD
    assert token.functions.clock().call() == w3.eth.block_number


# --- faucet -------------------------------------------------------------------------------


def test_faucet_drip_mints_and_emits(chain: Platform) -> None:
    """Given the dev faucet (cooldown 0), when an account drips, then Dripped(to, amount)
    is emitted, the amount is minted to it, and it may drip again at once."""
    w3 = chain.client.w3
    token = coin(chain)
    faucet = chain.client.contract("Faucet")
    user = chain.account(8)
    drip = chain.config.faucet_drip
    assert faucet.functions.dripAmount().call() == drip == 10_000 * WAD
    assert faucet.functions.cooldown().call() == 0
    supply = token.functions.totalSupply().call()

    receipt = user.send(faucet.functions.drip())

    assert single_event(faucet, "Dripped", receipt) == {"to": user.address, "amount": drip}
    assert single_event(token, "Transfer", receipt) == {
        "from": ZERO_ADDRESS,
        "to": user.address,
        "value": drip,
    }
    assert balance(token, user.address) == drip
    assert token.functions.totalSupply().call() == supply + drip
    assert faucet.functions.lastDrip(user.address).call() == block_time(w3, receipt)
    user.send(faucet.functions.drip())
    assert balance(token, user.address) == 2 * drip


def deploy_faucet(chain: Platform, drip: int, cooldown: int, *, minter: bool = True) -> Contract:
    faucet = deploy(chain.deployer, "Faucet", coin(chain).address, drip, cooldown)
    if minter:
        grant_minter(chain, faucet.address)
    return faucet


def test_faucet_cooldown_blocks_second_drip(chain: Platform) -> None:
    """Given a faucet with a one-hour cooldown, when an account drips twice, then the
    second reverts FaucetCooldown(last + cooldown); another account is not affected; after
    the cooldown the first account can drip again."""
    w3 = chain.client.w3
    token = coin(chain)
    faucet = deploy_faucet(chain, 5 * WAD, 3600)
    user = chain.account(1)
    receipt = user.send(faucet.functions.drip())
    last = block_time(w3, receipt)
    assert single_event(faucet, "Dripped", receipt) == {"to": user.address, "amount": 5 * WAD}

    with reverts("FaucetCooldown", last + 3600):
        user.send(faucet.functions.drip())
    assert balance(token, user.address) == 5 * WAD

    chain.account(2).send(faucet.functions.drip())
    assert balance(token, chain.account(2).address) == 5 * WAD

    advance_time(w3, 3600)
    receipt = user.send(faucet.functions.drip())
    assert faucet.functions.lastDrip(user.address).call() == block_time(w3, receipt)
    assert balance(token, user.address) == 10 * WAD


def test_faucet_without_minter_role_reverts(chain: Platform) -> None:
    """Given a faucet never granted MINTER_ROLE, when someone drips, then the mint is
    refused (AccessControlUnauthorizedAccount naming the faucet) and nothing is recorded."""
    faucet = deploy_faucet(chain, WAD, 0, minter=False)
    user = chain.account(1)
    with reverts("AccessControlUnauthorizedAccount", faucet.address, MINTER_ROLE):
        user.send(faucet.functions.drip())
    assert faucet.functions.lastDrip(user.address).call() == 0


def test_faucet_respects_cap(chain: Platform) -> None:
    """Given the supply one wei short of a full drip below the cap, when someone drips,
    then ERC20ExceededCap and the drip is not recorded."""
    token = coin(chain)
    faucet = chain.client.contract("Faucet")
    drip = chain.config.faucet_drip
    cap = chain.config.supply_cap
    grant_minter(chain, chain.deployer.address)
    chain.deployer.send(
        token.functions.mint(chain.deployer.address, cap - chain.config.initial_supply - drip + 1)
    )
    user: Transactor = chain.account(1)
    with reverts("ERC20ExceededCap", cap + 1, cap):
        user.send(faucet.functions.drip())
    assert balance(token, user.address) == 0
    assert faucet.functions.lastDrip(user.address).call() == 0


def test_back_to_back_mints_estimate_enough_gas(chain: Platform) -> None:
    """Given a drip mined in the latest block, when another account drips in the very next
    block, then the Transactor's gas estimate should suffice and the drip succeed."""
    token = coin(chain)
    faucet = chain.client.contract("Faucet")
    chain.account(1).send(faucet.functions.drip())
    chain.account(2).send(faucet.functions.drip())
    assert balance(token, chain.account(2).address) == chain.config.faucet_drip
