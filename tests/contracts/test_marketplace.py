"""Marketplace: listing, pricing, delisting, purchases (fees, subscriptions), ratings and
owner settings, against the real deployed contracts on anvil."""

from __future__ import annotations

import pytest
from web3.contract import Contract

from common.chain import Transactor
from tests.conftest import Platform
from tests.contracts.helpers import (
    WAD,
    ZERO_ADDRESS,
    advance_time,
    approve,
    balance,
    block_time,
    buy,
    call_revert,
    coin,
    events,
    fund,
    list_dataset,
    reverts,
    single_event,
)

PERPETUAL = 2**64 - 1
DAY = 24 * 3600
CONTENT_HASH = bytes.fromhex("ab" * 32)


def market_of(chain: Platform) -> Contract:
    return chain.client.contract("Marketplace")


def use_fresh_treasury(chain: Platform) -> str:
    """Point the fee at account 9 (the default treasury is the deployer, who funds tests)."""
    treasury = chain.account(9).address
    chain.deployer.send(market_of(chain).functions.setTreasury(treasury))
    return treasury


# --- listing ------------------------------------------------------------------------------


def test_list_dataset_emits_every_field_and_stores_it(chain: Platform) -> None:
    """Given a provider, when it lists a dataset, then DatasetListed carries every field,
    the id is 1, and getDataset returns the same record (active, unrated)."""
    market = market_of(chain)
    provider = chain.account(1)
    assert market.functions.datasetCount().call() == 0

    receipt = provider.send(
        market.functions.listDataset(
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
            CONTENT_HASH,
            "images",
            123 * WAD + 45,
            30 * DAY,
        )
    )

    assert single_event(market, "DatasetListed", receipt) == {
        "datasetId": 1,
        "provider": provider.address,
        "price": 123 * WAD + 45,
        "accessDuration": 30 * DAY,
        "metadataCid": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "contentHash": CONTENT_HASH,
        "category": "images",
    }
    assert market.functions.datasetCount().call() == 1
    assert tuple(market.functions.getDataset(1).call()) == (
        provider.address,
        30 * DAY,
        True,
        0,
        0,
        123 * WAD + 45,
        CONTENT_HASH,
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "images",
    )
    assert market.functions.providerOf(1).call() == provider.address


def test_ids_increase_per_listing(chain: Platform) -> None:
    """When two providers list, then ids are 1 and 2 in order."""
    first = list_dataset(chain, chain.account(1), WAD)
    second = list_dataset(chain, chain.account(2), 2 * WAD)
    assert (first, second) == (1, 2)
    assert market_of(chain).functions.providerOf(2).call() == chain.account(2).address


@pytest.mark.parametrize("cid", ["", "x" * 129])
def test_list_rejects_invalid_cid(chain: Platform, cid: str) -> None:
    """When the metadata CID is empty or longer than 128 bytes, then InvalidCid."""
    market = market_of(chain)
    with reverts("InvalidCid"):
        chain.account(1).send(market.functions.listDataset(cid, CONTENT_HASH, "tabular", 1, 0))
    assert market.functions.datasetCount().call() == 0


@pytest.mark.parametrize("category", ["", "c" * 33])
def test_list_rejects_invalid_category(chain: Platform, category: str) -> None:
    """When the category is empty or longer than 32 bytes, then InvalidCategory."""
    market = market_of(chain)
    with reverts("InvalidCategory"):
        chain.account(1).send(market.functions.listDataset("cid", CONTENT_HASH, category, 1, 0))
    assert market.functions.datasetCount().call() == 0


def test_list_accepts_boundary_lengths(chain: Platform) -> None:
    """When the CID is exactly 128 bytes and the category exactly 32, then listing works."""
    market = market_of(chain)
    receipt = chain.account(1).send(
        market.functions.listDataset("q" * 128, CONTENT_HASH, "k" * 32, 0, 0)
    )
    event = single_event(market, "DatasetListed", receipt)
    assert (event["metadataCid"], event["category"]) == ("q" * 128, "k" * 32)


# --- price and delisting ------------------------------------------------------------------


def test_set_price_emits_price_changed(chain: Platform) -> None:
    """Given a listed dataset, when its provider changes the price, then PriceChanged(old,
    new) and the stored price changes."""
    market = market_of(chain)
    provider = chain.account(1)
    dataset = list_dataset(chain, provider, 10 * WAD)
    receipt = provider.send(market.functions.setPrice(dataset, 7 * WAD + 3))
    assert single_event(market, "PriceChanged", receipt) == {
        "datasetId": dataset,
        "oldPrice": 10 * WAD,
        "newPrice": 7 * WAD + 3,
    }
    assert market.functions.getDataset(dataset).call()[5] == 7 * WAD + 3


def test_set_price_by_other_reverts_not_provider(chain: Platform) -> None:
    """When someone other than the provider sets the price, then NotProvider(id, caller)."""
    market = market_of(chain)
    dataset = list_dataset(chain, chain.account(1), 10 * WAD)
    other = chain.account(2)
    with reverts("NotProvider", dataset, other.address):
        other.send(market.functions.setPrice(dataset, 1))
    with reverts("NotProvider", dataset, other.address):
        other.send(market.functions.delist(dataset))
    assert market.functions.getDataset(dataset).call()[5] == 10 * WAD


def test_delist_emits_and_blocks_price_changes_and_purchases(chain: Platform) -> None:
    """Given a listed dataset, when its provider delists it, then DatasetDelisted, it is
    inactive, and setPrice, delist and purchase revert DatasetNotActive."""
    market = market_of(chain)
    provider = chain.account(1)
    dataset = list_dataset(chain, provider, 10 * WAD)
    receipt = provider.send(market.functions.delist(dataset))
    assert single_event(market, "DatasetDelisted", receipt) == {
        "datasetId": dataset,
        "provider": provider.address,
    }
    assert market.functions.getDataset(dataset).call()[2] is False
    with reverts("DatasetNotActive", dataset):
        provider.send(market.functions.setPrice(dataset, 1))
    with reverts("DatasetNotActive", dataset):
        provider.send(market.functions.delist(dataset))
    buyer = chain.account(2)
    fund(chain, buyer.address, 10 * WAD)
    approve(buyer, coin(chain), market.address, 10 * WAD)
    with reverts("DatasetNotActive", dataset):
        buyer.send(market.functions.purchase(dataset, 10 * WAD))
    assert balance(coin(chain), buyer.address) == 10 * WAD


def test_buyers_keep_access_after_delist(chain: Platform) -> None:
    """Given a perpetual buyer, when the dataset is delisted, then the buyer keeps access."""
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, WAD)
    buy(chain, buyer, dataset, WAD)
    provider.send(market.functions.delist(dataset))
    assert market.functions.hasAccess(dataset, buyer.address).call() is True
    assert market.functions.hasAccess(dataset, provider.address).call() is True


def test_unknown_dataset_reverts_everywhere(chain: Platform) -> None:
    """When any entry point names a dataset id never listed, then UnknownDataset(id)."""
    market = market_of(chain)
    list_dataset(chain, chain.account(1), WAD)
    user = chain.account(2)
    with reverts("UnknownDataset", 2):
        user.send(market.functions.purchase(2, 0))
    with reverts("UnknownDataset", 0):
        user.send(market.functions.purchase(0, 0))
    with reverts("UnknownDataset", 2):
        user.send(market.functions.rate(2, 5))
    with reverts("UnknownDataset", 2):
        user.send(market.functions.setPrice(2, 1))
    with reverts("UnknownDataset", 2):
        user.send(market.functions.delist(2))
    for call in (
        market.functions.getDataset(2),
        market.functions.providerOf(2),
        market.functions.hasAccess(2, user.address),
    ):
        error = call_revert(call)
        assert (error.error, error.error_args) == ("UnknownDataset", (2,))


# --- purchase: fees and balances ----------------------------------------------------------


@pytest.mark.parametrize(
    "price",
    [0, 1, 39, 40, 41, 12_345, 10**18, 3 * 10**18 + 7, 123_456_789_012_345_678_901],
)
def test_purchase_splits_price_exactly(chain: Platform, price: int) -> None:
    """Given a dataset priced `price` and a 2.5% fee, when a buyer purchases it, then
    fee = price * 250 // 10000, the provider receives price - fee, the treasury fee, the
    buyer pays exactly price, and Purchased carries (id, buyer, provider, price, fee, 0)."""
    token = coin(chain)
    market = market_of(chain)
    treasury = use_fresh_treasury(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, price)
    fund(chain, buyer.address, price + 5)
    approve(buyer, token, market.address, price)
    fee = price * 250 // 10_000
    assert market.functions.feeBps().call() == 250

    receipt = buyer.send(market.functions.purchase(dataset, price))

    assert single_event(market, "Purchased", receipt) == {
        "datasetId": dataset,
        "buyer": buyer.address,
        "provider": provider.address,
        "price": price,
        "fee": fee,
        "expiresAt": 0,
    }
    assert balance(token, buyer.address) == 5
    assert balance(token, provider.address) == price - fee
    assert balance(token, treasury) == fee
    assert balance(token, market.address) == 0
    assert token.functions.allowance(buyer.address, market.address).call() == 0
    transfers = events(token, "Transfer", receipt)
    expected = [{"from": buyer.address, "to": provider.address, "value": price - fee}]
    if fee:
        expected.append({"from": buyer.address, "to": treasury, "value": fee})
    assert transfers == expected
    assert market.functions.hasPurchased(dataset, buyer.address).call() is True
    assert market.functions.hasAccess(dataset, buyer.address).call() is True
    assert market.functions.accessExpiry(dataset, buyer.address).call() == PERPETUAL


@pytest.mark.parametrize(("fee_bps", "price"), [(0, 999), (1_000, 999), (1, 9_999), (1, 10_000)])
def test_purchase_fee_follows_fee_bps(chain: Platform, fee_bps: int, price: int) -> None:
    """Given the owner set the fee to `fee_bps`, then the split uses that rate (rounding
    down in the provider's favour)."""
    token = coin(chain)
    market = market_of(chain)
    treasury = use_fresh_treasury(chain)
    chain.deployer.send(market.functions.setFee(fee_bps))
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, price)
    receipt = buy(chain, buyer, dataset, price)
    fee = price * fee_bps // 10_000
    assert single_event(market, "Purchased", receipt)["fee"] == fee
    assert balance(token, provider.address) == price - fee
    assert balance(token, treasury) == fee
    assert balance(token, buyer.address) == 0


def test_purchase_without_approval_reverts_and_grants_nothing(chain: Platform) -> None:
    """Given a funded buyer who never approved, when it purchases (the unpaid purchase),
    then ERC20InsufficientAllowance(market, 0, price - fee) and no access is granted."""
    token = coin(chain)
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 40 * WAD)
    fund(chain, buyer.address, 40 * WAD)
    with reverts("ERC20InsufficientAllowance", market.address, 0, 39 * WAD):
        buyer.send(market.functions.purchase(dataset, 40 * WAD))
    assert_no_purchase(chain, dataset, buyer, provider)
    assert balance(token, buyer.address) == 40 * WAD


def test_purchase_with_partial_approval_reverts_atomically(chain: Platform) -> None:
    """Given an approval covering the provider's part but not the fee, when the buyer
    purchases, then the fee pull fails (ERC20InsufficientAllowance(market, 0, fee)) and the
    provider's transfer is undone too."""
    token = coin(chain)
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 40 * WAD)
    fund(chain, buyer.address, 40 * WAD)
    approve(buyer, token, market.address, 39 * WAD)
    with reverts("ERC20InsufficientAllowance", market.address, 0, WAD):
        buyer.send(market.functions.purchase(dataset, 40 * WAD))
    assert_no_purchase(chain, dataset, buyer, provider)
    assert balance(token, buyer.address) == 40 * WAD
    assert token.functions.allowance(buyer.address, market.address).call() == 39 * WAD


def test_purchase_without_balance_reverts_and_grants_nothing(chain: Platform) -> None:
    """Given a buyer that approved but holds too little, when it purchases, then
    ERC20InsufficientBalance(buyer, balance, price - fee) and no access is granted."""
    token = coin(chain)
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 40 * WAD)
    fund(chain, buyer.address, 10 * WAD)
    approve(buyer, token, market.address, 40 * WAD)
    with reverts("ERC20InsufficientBalance", buyer.address, 10 * WAD, 39 * WAD):
        buyer.send(market.functions.purchase(dataset, 40 * WAD))
    assert_no_purchase(chain, dataset, buyer, provider)
    assert balance(token, buyer.address) == 10 * WAD


def assert_no_purchase(
    chain: Platform, dataset: int, buyer: Transactor, provider: Transactor
) -> None:
    market = market_of(chain)
    assert market.functions.hasAccess(dataset, buyer.address).call() is False
    assert market.functions.hasPurchased(dataset, buyer.address).call() is False
    assert market.functions.accessExpiry(dataset, buyer.address).call() == 0
    assert balance(coin(chain), provider.address) == 0
    with reverts("NotPurchaser", dataset, buyer.address):
        buyer.send(market.functions.rate(dataset, 5))


def test_purchase_above_max_price_reverts(chain: Platform) -> None:
    """Given the price was raised after the buyer looked, when it purchases with the old
    price as maxPrice, then PriceAboveMax(price, maxPrice) and nothing is taken."""
    token = coin(chain)
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 10 * WAD)
    provider.send(market.functions.setPrice(dataset, 10 * WAD + 1))
    fund(chain, buyer.address, 20 * WAD)
    approve(buyer, token, market.address, 20 * WAD)
    with reverts("PriceAboveMax", 10 * WAD + 1, 10 * WAD):
        buyer.send(market.functions.purchase(dataset, 10 * WAD))
    assert balance(token, buyer.address) == 20 * WAD
    # maxPrice above the price is fine, and only the price is charged.
    buyer.send(market.functions.purchase(dataset, 20 * WAD))
    assert balance(token, buyer.address) == 10 * WAD - 1


def test_perpetual_purchase_twice_reverts_already_owned(chain: Platform) -> None:
    """Given a perpetual buyer, when it buys again, then AlreadyOwned(id, buyer) and it is
    not charged twice."""
    token = coin(chain)
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 4 * WAD)
    buy(chain, buyer, dataset, 4 * WAD)
    fund(chain, buyer.address, 4 * WAD)
    approve(buyer, token, market.address, 4 * WAD)
    with reverts("AlreadyOwned", dataset, buyer.address):
        buyer.send(market.functions.purchase(dataset, 4 * WAD))
    assert balance(token, buyer.address) == 4 * WAD
    assert balance(token, provider.address) == 4 * WAD - 4 * WAD // 40


def test_free_dataset_purchase(chain: Platform) -> None:
    """Given a price-0 dataset, when a buyer with no tokens and no approval purchases, then
    it gets perpetual access and no tokens move."""
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 0)
    receipt = buyer.send(market.functions.purchase(dataset, 0))
    event = single_event(market, "Purchased", receipt)
    assert (event["price"], event["fee"], event["expiresAt"]) == (0, 0, 0)
    assert market.functions.hasAccess(dataset, buyer.address).call() is True


def test_provider_has_access_without_purchase(chain: Platform) -> None:
    """Given a listed dataset, then its provider has access without buying, a stranger
    does not, and the provider is not recorded as a purchaser."""
    market = market_of(chain)
    provider = chain.account(1)
    dataset = list_dataset(chain, provider, WAD, access_duration=DAY)
    assert market.functions.hasAccess(dataset, provider.address).call() is True
    assert market.functions.hasAccess(dataset, chain.account(2).address).call() is False
    assert market.functions.hasPurchased(dataset, provider.address).call() is False
    assert market.functions.accessExpiry(dataset, provider.address).call() == 0


# --- subscriptions ------------------------------------------------------------------------


def test_subscription_expires_at_now_plus_duration(chain: Platform) -> None:
    """Given a 1-day subscription, when bought, then expiresAt = block time + 1 day (in the
    event, the return value and accessExpiry)."""
    w3 = chain.client.w3
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 3 * WAD, access_duration=DAY)
    receipt = buy(chain, buyer, dataset, 3 * WAD)
    expires = block_time(w3, receipt) + DAY
    assert single_event(market, "Purchased", receipt) == {
        "datasetId": dataset,
        "buyer": buyer.address,
        "provider": provider.address,
        "price": 3 * WAD,
        "fee": 3 * WAD * 250 // 10_000,
        "expiresAt": expires,
    }
    assert market.functions.accessExpiry(dataset, buyer.address).call() == expires
    assert market.functions.hasAccess(dataset, buyer.address).call() is True


def test_subscription_renewal_extends_from_current_expiry(chain: Platform) -> None:
    """Given an active 1-day subscription, when the buyer buys again halfway through, then
    the new expiry is the old expiry + 1 day (not now + 1 day), and it is charged twice."""
    w3 = chain.client.w3
    token = coin(chain)
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, 3 * WAD, access_duration=DAY)
    first = buy(chain, buyer, dataset, 3 * WAD)
    first_expiry = block_time(w3, first) + DAY
    advance_time(w3, DAY // 2)

    second = buy(chain, buyer, dataset, 3 * WAD)

    assert block_time(w3, second) + DAY < first_expiry + DAY
    assert single_event(market, "Purchased", second)["expiresAt"] == first_expiry + DAY
    assert market.functions.accessExpiry(dataset, buyer.address).call() == first_expiry + DAY
    assert balance(token, provider.address) == 2 * (3 * WAD - 3 * WAD // 40)


def test_subscription_lapses_and_renewal_starts_from_now(chain: Platform) -> None:
    """Given a 1-day subscription, when more than a day passes, then hasAccess is false;
    when the buyer buys again, then the new expiry is now + 1 day."""
    w3 = chain.client.w3
    market = market_of(chain)
    provider, buyer = chain.account(1), chain.account(2)
    dataset = list_dataset(chain, provider, WAD, access_duration=DAY)
    first = buy(chain, buyer, dataset, WAD)
    expiry = block_time(w3, first) + DAY

    advance_time(w3, DAY + 1)

    assert market.functions.hasAccess(dataset, buyer.address).call() is False
    assert market.functions.accessExpiry(dataset, buyer.address).call() == expiry
    assert market.functions.hasPurchased(dataset, buyer.address).call() is True
    again = buy(chain, buyer, dataset, WAD)
    assert single_event(market, "Purchased", again)["expiresAt"] == block_time(w3, again) + DAY
    assert block_time(w3, again) + DAY > expiry + DAY
    assert market.functions.hasAccess(dataset, buyer.address).call() is True


# --- ratings ------------------------------------------------------------------------------


def test_rate_by_purchaser_emits_and_accumulates(chain: Platform) -> None:
    """Given two buyers, when they rate 4 and 5, then Rated events and the dataset's
    ratingCount = 2 and ratingSum = 9."""
    market = market_of(chain)
    provider = chain.account(1)
    dataset = list_dataset(chain, provider, WAD)
    for index, score in ((2, 4), (3, 5)):
        buyer = chain.account(index)
        buy(chain, buyer, dataset, WAD)
        receipt = buyer.send(market.functions.rate(dataset, score))
        assert single_event(market, "Rated", receipt) == {
            "datasetId": dataset,
            "rater": buyer.address,
            "score": score,
        }
        assert market.functions.hasRated(dataset, buyer.address).call() is True
    stored = market.functions.getDataset(dataset).call()
    assert (stored[3], stored[4]) == (2, 9)


def test_rate_without_purchase_reverts(chain: Platform) -> None:
    """When a non-buyer (even the provider) rates, then NotPurchaser(id, caller)."""
    market = market_of(chain)
    provider = chain.account(1)
    dataset = list_dataset(chain, provider, WAD)
    for rater in (provider, chain.account(2)):
        with reverts("NotPurchaser", dataset, rater.address):
            rater.send(market.functions.rate(dataset, 5))


@pytest.mark.parametrize("score", [0, 6, 255])
def test_rate_rejects_out_of_range_score(chain: Platform, score: int) -> None:
    """When a buyer rates outside 1..5, then InvalidScore(score) and nothing is recorded."""
    market = market_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD)
    buy(chain, buyer, dataset, WAD)
    with reverts("InvalidScore", score):
        buyer.send(market.functions.rate(dataset, score))
    assert market.functions.hasRated(dataset, buyer.address).call() is False
    assert market.functions.getDataset(dataset).call()[3] == 0


def test_rate_twice_reverts_already_rated(chain: Platform) -> None:
    """Given a buyer that rated, when it rates again, then AlreadyRated(id, rater) and the
    totals are unchanged."""
    market = market_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD)
    buy(chain, buyer, dataset, WAD)
    buyer.send(market.functions.rate(dataset, 1))
    with reverts("AlreadyRated", dataset, buyer.address):
        buyer.send(market.functions.rate(dataset, 5))
    stored = market.functions.getDataset(dataset).call()
    assert (stored[3], stored[4]) == (1, 1)


def test_lapsed_subscriber_may_still_rate(chain: Platform) -> None:
    """Given a subscription that expired, then its buyer is still a verified purchaser."""
    w3 = chain.client.w3
    market = market_of(chain)
    buyer = chain.account(2)
    dataset = list_dataset(chain, chain.account(1), WAD, access_duration=60)
    buy(chain, buyer, dataset, WAD)
    advance_time(w3, 61)
    receipt = buyer.send(market.functions.rate(dataset, 3))
    assert single_event(market, "Rated", receipt)["score"] == 3


# --- owner settings -----------------------------------------------------------------------


def test_set_fee_emits_and_applies(chain: Platform) -> None:
    """When the owner sets the fee to the 10% maximum, then FeeChanged(250, 1000)."""
    market = market_of(chain)
    assert market.functions.owner().call() == chain.deployer.address
    assert market.functions.MAX_FEE_BPS().call() == 1_000
    receipt = chain.deployer.send(market.functions.setFee(1_000))
    assert single_event(market, "FeeChanged", receipt) == {"oldFeeBps": 250, "newFeeBps": 1_000}
    assert market.functions.feeBps().call() == 1_000


def test_set_fee_above_max_reverts(chain: Platform) -> None:
    """When the owner sets the fee to 1001 bps, then FeeTooHigh(1001)."""
    market = market_of(chain)
    with reverts("FeeTooHigh", 1_001):
        chain.deployer.send(market.functions.setFee(1_001))
    assert market.functions.feeBps().call() == 250


def test_owner_only_settings(chain: Platform) -> None:
    """When a non-owner calls setFee or setTreasury, then OwnableUnauthorizedAccount."""
    market = market_of(chain)
    intruder = chain.account(3)
    with reverts("OwnableUnauthorizedAccount", intruder.address):
        intruder.send(market.functions.setFee(0))
    with reverts("OwnableUnauthorizedAccount", intruder.address):
        intruder.send(market.functions.setTreasury(intruder.address))
    assert market.functions.feeBps().call() == 250
    assert market.functions.treasury().call() == chain.deployer.address


def test_set_treasury_emits_and_redirects_fees(chain: Platform) -> None:
    """When the owner moves the treasury, then TreasuryChanged(old, new) and later fees go
    to the new treasury; the zero address is refused (ZeroAddress)."""
    token = coin(chain)
    market = market_of(chain)
    new_treasury = chain.account(9).address
    receipt = chain.deployer.send(market.functions.setTreasury(new_treasury))
    assert single_event(market, "TreasuryChanged", receipt) == {
        "oldTreasury": chain.deployer.address,
        "newTreasury": new_treasury,
    }
    assert market.functions.treasury().call() == new_treasury
    with reverts("ZeroAddress"):
        chain.deployer.send(market.functions.setTreasury(ZERO_ADDRESS))
    dataset = list_dataset(chain, chain.account(1), 400)
    buy(chain, chain.account(2), dataset, 400)
    assert balance(token, new_treasury) == 10


def test_ownership_transfer_is_two_step(chain: Platform) -> None:
    """When the owner transfers ownership, then the new owner must accept before acting."""
    market = market_of(chain)
    new_owner = chain.account(4)
    chain.deployer.send(market.functions.transferOwnership(new_owner.address))
    assert market.functions.owner().call() == chain.deployer.address
    with reverts("OwnableUnauthorizedAccount", new_owner.address):
        new_owner.send(market.functions.setFee(0))
    new_owner.send(market.functions.acceptOwnership())
    assert market.functions.owner().call() == new_owner.address
    new_owner.send(market.functions.setFee(0))
    with reverts("OwnableUnauthorizedAccount", chain.deployer.address):
        chain.deployer.send(market.functions.setFee(1))
