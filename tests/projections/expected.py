"""The read models as computed independently from the final chain (contract state and
web3's own log decoding), to compare with what the projections built."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from tests.conftest import Platform

PERPETUAL = 2**64 - 1


def _logs(platform: Platform, contract: str, event: str) -> list[Any]:
    c = platform.client.contract(contract)
    return list(getattr(c.events, event)().get_logs(from_block=platform.deployment.start_block))


def expected_datasets(platform: Platform) -> dict[int, dict[str, Any]]:
    market = platform.client.contract("Marketplace")
    purchases: dict[int, int] = {}
    for log in _logs(platform, "Marketplace", "Purchased"):
        purchases[log.args.datasetId] = purchases.get(log.args.datasetId, 0) + 1
    out = {}
    for dataset_id in range(1, market.functions.datasetCount().call() + 1):
        d = market.functions.getDataset(dataset_id).call()
        out[dataset_id] = {
            "provider": bytes.fromhex(d[0][2:]),
            "access_duration": d[1],
            "status": "listed" if d[2] else "delisted",
            "rating_count": d[3],
            "rating_sum": d[4],
            "price": d[5],
            "content_hash": bytes(d[6]),
            "metadata_cid": d[7],
            "category": d[8],
            "purchases": purchases.get(dataset_id, 0),
        }
    return out


def expected_grants(platform: Platform) -> dict[tuple[int, bytes], int | None]:
    market = platform.client.contract("Marketplace")
    out: dict[tuple[int, bytes], int | None] = {}
    for log in _logs(platform, "Marketplace", "Purchased"):
        expiry = market.functions.accessExpiry(log.args.datasetId, log.args.buyer).call()
        key = (log.args.datasetId, bytes.fromhex(log.args.buyer[2:].lower()))
        out[key] = None if expiry == PERPETUAL else expiry
    return out


def expected_stakes(platform: Platform) -> dict[bytes, tuple[int, int]]:
    staking = platform.client.contract("Staking")
    accounts = {log.args.account for log in _logs(platform, "Staking", "Staked")}
    out = {}
    for account in accounts:
        pending, _ = staking.functions.pendingUnstake(account).call()
        out[bytes.fromhex(account[2:].lower())] = (
            staking.functions.stakeOf(account).call(),
            pending,
        )
    return out


def expected_stats(platform: Platform) -> dict[str, int]:
    purchased = _logs(platform, "Marketplace", "Purchased")
    return {
        "datasets_listed": len(_logs(platform, "Marketplace", "DatasetListed")),
        "purchases": len(purchased),
        "purchase_volume": sum(log.args.price for log in purchased),
        "fees": sum(log.args.fee for log in purchased),
        "ratings": len(_logs(platform, "Marketplace", "Rated")),
        "total_staked": platform.client.contract("Staking").functions.totalStaked().call(),
    }


def checksum(raw: bytes) -> str:
    return Web3.to_checksum_address("0x" + raw.hex())


def expected_profiles(platform: Platform) -> dict[bytes, str]:
    """Each account's profile CID, as the contract holds it (none once cleared)."""
    profiles = platform.client.contract("Profiles")
    accounts = {log.args.account for log in _logs(platform, "Profiles", "ProfileUpdated")}
    out = {}
    for account in accounts:
        if cid := profiles.functions.profileOf(account).call():
            out[bytes.fromhex(account[2:].lower())] = cid
    return out


def expected_voting_power(platform: Platform) -> dict[str, dict[bytes, Any]]:
    """Staking's voting power as the contract holds it: each account's delegate (those that
    ever had one) and each delegate's current votes (those that ever had votes; 0 kept)."""
    staking = platform.client.contract("Staking")
    delegators = {log.args.delegator for log in _logs(platform, "Staking", "DelegateChanged")}
    delegates = {log.args.delegate for log in _logs(platform, "Staking", "DelegateVotesChanged")}
    return {
        "delegations": {
            bytes.fromhex(a[2:].lower()): bytes.fromhex(
                staking.functions.delegates(a).call()[2:].lower()
            )
            for a in delegators
        },
        "votes": {
            bytes.fromhex(d[2:].lower()): staking.functions.getVotes(d).call() for d in delegates
        },
    }
