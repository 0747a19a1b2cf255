"""Profiles: an account sets, replaces and clears the CID of its profile document."""

from __future__ import annotations

import pytest
from web3.contract import Contract

from tests.conftest import Platform
from tests.contracts.helpers import events, reverts, single_event

CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def profiles_of(chain: Platform) -> Contract:
    return chain.client.contract("Profiles")


def test_deployed_last_with_the_marketplace_cid_limit(chain: Platform) -> None:
    """Profiles is in the manifest, deployed after every other contract, and bounds CIDs
    exactly as the marketplace bounds metadata CIDs."""
    deployed = chain.deployment.contracts
    assert list(deployed)[-1] == "Profiles"
    assert deployed["Profiles"].block_number == max(c.block_number for c in deployed.values())
    limit = chain.client.contract("Marketplace").functions.MAX_CID_LENGTH().call()
    assert profiles_of(chain).functions.MAX_CID_LENGTH().call() == limit == 128


def test_set_emits_and_stores(chain: Platform) -> None:
    """When an account sets its profile, then ProfileUpdated(account, cid) and profileOf
    returns the CID; other accounts stay empty."""
    profiles = profiles_of(chain)
    alice = chain.account(1)

    receipt = alice.send(profiles.functions.setProfile(CID))

    assert single_event(profiles, "ProfileUpdated", receipt) == {
        "account": alice.address,
        "cid": CID,
    }
    assert profiles.functions.profileOf(alice.address).call() == CID
    assert profiles.functions.profileOf(chain.account(2).address).call() == ""


def test_overwrite_replaces_the_cid(chain: Platform) -> None:
    """Given a profile, when the account sets another, then the event carries the new CID
    and it replaces the old one."""
    profiles = profiles_of(chain)
    alice = chain.account(1)
    alice.send(profiles.functions.setProfile("bafy-old"))

    receipt = alice.send(profiles.functions.setProfile("bafy-new"))

    assert single_event(profiles, "ProfileUpdated", receipt)["cid"] == "bafy-new"
    assert profiles.functions.profileOf(alice.address).call() == "bafy-new"


def test_clear_emits_an_empty_cid(chain: Platform) -> None:
    """Given a profile, when the account clears it, then ProfileUpdated(account, "") and
    profileOf is empty; clearing again is allowed and says the same."""
    profiles = profiles_of(chain)
    alice = chain.account(1)
    alice.send(profiles.functions.setProfile(CID))

    first = alice.send(profiles.functions.clearProfile())
    second = alice.send(profiles.functions.clearProfile())

    expected = {"account": alice.address, "cid": ""}
    assert events(profiles, "ProfileUpdated", first) == [expected]
    assert events(profiles, "ProfileUpdated", second) == [expected]
    assert profiles.functions.profileOf(alice.address).call() == ""


def test_accepts_a_cid_of_exactly_the_limit(chain: Platform) -> None:
    """When the CID is exactly 128 bytes, then it is stored."""
    profiles = profiles_of(chain)
    alice = chain.account(1)
    alice.send(profiles.functions.setProfile("q" * 128))
    assert profiles.functions.profileOf(alice.address).call() == "q" * 128


@pytest.mark.parametrize("cid", ["", "x" * 129, "é" * 65], ids=["empty", "129", "130-bytes"])
def test_rejects_an_empty_or_over_long_cid(chain: Platform, cid: str) -> None:
    """When the CID is empty or longer than 128 bytes (bytes, not characters), then
    InvalidCid and the stored profile is unchanged."""
    profiles = profiles_of(chain)
    alice = chain.account(1)
    alice.send(profiles.functions.setProfile(CID))
    with reverts("InvalidCid"):
        alice.send(profiles.functions.setProfile(cid))
    assert profiles.functions.profileOf(alice.address).call() == CID
