"""Access fulfilment: on a final ``Purchased``, record a delivery the buyer can use at once.

A delivery is a Redis hash per (chain, dataset, buyer) holding a one-time download token
and the access expiry read from the chain (the authority: a later subscription purchase
extends it, and a redelivered message rewrites the same values)::

    {ns}:grant:{chain_id}:{dataset_id}:{buyer}  hash: token, expires_at (0 = perpetual),
                                                 tx_hash, delivered_at
    {ns}:download:{token}                        "{chain_id}:{dataset_id}:{buyer}"

Both keys expire with the access (``EXPIREAT``), perpetual ones never. The API hands the
token to the signed-in buyer (:meth:`AccessDeliveries.lookup`), and a download presenting it
consumes it (:meth:`AccessDeliveries.redeem`, atomic ``GETDEL``) after which the API can mint
a fresh one for the same buyer (:meth:`AccessDeliveries.issue`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from web3 import Web3

from common.chain import ChainClient
from common.errors import PermanentError, RetryableError, classify
from workers.training.ledger import view_call

log = structlog.get_logger(__name__)
PERPETUAL = 2**64 - 1  # Marketplace stores perpetual access as type(uint64).max


@dataclass(frozen=True)
class Delivery:
    """A buyer's recorded access to a dataset."""

    chain_id: int
    dataset_id: int
    buyer: str
    token: str
    expires_at: int
    tx_hash: str


class AccessDeliveries:
    """The delivery records in Redis (idempotent writes, one-time tokens)."""

    def __init__(self, client: redis.Redis, namespace: str = "datacoin") -> None:
        self.redis = client
        self.ns = namespace

    def _grant_key(self, chain_id: int, dataset_id: int, buyer: str) -> str:
        return f"{self.ns}:grant:{chain_id}:{dataset_id}:{buyer.lower()}"

    def _token_key(self, token: str) -> str:
        return f"{self.ns}:download:{token}"

    def record(
        self, chain_id: int, dataset_id: int, buyer: str, expires_at: int, tx_hash: str
    ) -> Delivery:
        """Create the delivery or refresh it; the token of an existing one is kept."""
        key = self._grant_key(chain_id, dataset_id, buyer)
        self.redis.hsetnx(key, "token", secrets.token_urlsafe(32))
        token = self._str(self.redis.hget(key, "token"))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"expires_at": expires_at, "tx_hash": tx_hash})
        pipe.hsetnx(key, "delivered_at", int(time.time()))
        pipe.set(self._token_key(token), f"{chain_id}:{dataset_id}:{buyer.lower()}")
        for k in (key, self._token_key(token)):
            if expires_at:
                pipe.expireat(k, expires_at)
            else:
                pipe.persist(k)
        pipe.execute()
        return Delivery(chain_id, dataset_id, buyer.lower(), token, expires_at, tx_hash)

    def lookup(self, chain_id: int, dataset_id: int, buyer: str) -> Delivery | None:
        """The buyer's delivery, if one was recorded and has not expired."""
        fields = self.redis.hgetall(self._grant_key(chain_id, dataset_id, buyer))
        if not fields:
            return None
        get = {self._str(k): self._str(v) for k, v in fields.items()}
        return Delivery(
            chain_id,
            dataset_id,
            buyer.lower(),
            get["token"],
            int(get["expires_at"]),
            get["tx_hash"],
        )

    def redeem(self, token: str) -> tuple[int, int, str] | None:
        """Consume a token: (chain_id, dataset_id, buyer), or None if unknown or used."""
        value = self.redis.getdel(self._token_key(token))
        if value is None:
            return None
        chain_id, dataset_id, buyer = self._str(value).split(":")
        return int(chain_id), int(dataset_id), buyer

    def issue(self, chain_id: int, dataset_id: int, buyer: str) -> str | None:
        """A fresh one-time token for an existing delivery (None if there is none)."""
        current = self.lookup(chain_id, dataset_id, buyer)
        if current is None:
            return None
        token = secrets.token_urlsafe(32)
        key = self._grant_key(chain_id, dataset_id, buyer)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, "token", token)
        pipe.set(self._token_key(token), f"{chain_id}:{dataset_id}:{buyer.lower()}")
        if current.expires_at:
            pipe.expireat(self._token_key(token), current.expires_at)
        pipe.execute()
        return token

    @staticmethod
    def _str(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)


class AccessService:
    """Checks the purchase against the chain, then records the delivery."""

    def __init__(self, client: ChainClient, deliveries: AccessDeliveries) -> None:
        self.client = client
        self.deliveries = deliveries

    def grant(self, dataset_id: int, buyer: str, tx_hash: str) -> Delivery | None:
        """Record the delivery; None when the chain shows no live access (expired)."""
        market = self.client.contract("Marketplace")
        buyer_cs = Web3.to_checksum_address(buyer)
        expiry = int(view_call(market.functions.accessExpiry(dataset_id, buyer_cs)))
        if expiry == 0:
            raise PermanentError(f"{buyer} has no access to dataset {dataset_id} on chain")
        expires_at = 0 if expiry == PERPETUAL else expiry
        try:
            now = int(self.client.w3.eth.get_block("latest")["timestamp"])
        except Exception as exc:
            raise classify(exc) from exc
        if expires_at and expires_at <= now:
            log.info("access.expired", dataset_id=dataset_id, buyer=buyer, expires_at=expires_at)
            return None
        chain_id = self.client.deployment.chain_id
        try:
            delivery = self.deliveries.record(chain_id, dataset_id, buyer, expires_at, tx_hash)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RetryableError(f"redis: {exc}") from exc
        log.info(
            "access.delivered",
            chain_id=chain_id,
            dataset_id=dataset_id,
            buyer=buyer,
            expires_at=expires_at,
        )
        return delivery
