"""The bridge's off-chain side: messages, their ids and the relayers' EIP-712 signatures,
exactly as contracts/src/BridgeAuthority.sol defines them.

A transfer's message is built from its source event (``BridgeLocked`` on the home chain,
``BridgeBurned`` on the remote one) and signed for the *receiving* contract's domain; the
receiving contract (``release`` / ``deliver``) takes the message and the signatures of at
least `threshold` current relayers, ordered by signer address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from common.chain import dev_account
from common.errors import ConfigurationError
from common.manifest import Deployment
from contracts.events import BridgeBurned, BridgeLocked

DOMAIN_NAME = "DatacoinBridge"
DOMAIN_VERSION = "1"
#: EIP-712 types of the signed struct (the domain's type is implied by its fields).
MESSAGE_TYPES: dict[str, list[dict[str, str]]] = {
    "BridgeMessage": [
        {"name": "messageId", "type": "bytes32"},
        {"name": "sourceChainId", "type": "uint256"},
        {"name": "destChainId", "type": "uint256"},
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "amount", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
    ]
}
#: The dev chains' relayer set: anvil's dev accounts 7, 8 and 9, two signatures a message.
DEV_RELAYER_INDEXES = (7, 8, 9)
DEV_THRESHOLD = 2


@dataclass(frozen=True, kw_only=True)
class BridgeMessage:
    """One transfer across the bridge (Solidity's ``BridgeMessage``, snake_case)."""

    message_id: bytes
    source_chain_id: int
    dest_chain_id: int
    from_: str
    to: str
    amount: int
    nonce: int

    def typed_fields(self) -> dict[str, Any]:
        """The struct's fields under their Solidity names (EIP-712 message data)."""
        return {
            "messageId": self.message_id,
            "sourceChainId": self.source_chain_id,
            "destChainId": self.dest_chain_id,
            "from": Web3.to_checksum_address(self.from_),
            "to": Web3.to_checksum_address(self.to),
            "amount": self.amount,
            "nonce": self.nonce,
        }

    def as_struct(self) -> tuple[bytes, int, int, str, str, int, int]:
        """The struct as web3 passes it to ``release`` / ``deliver`` (fields in ABI order)."""
        return (
            self.message_id,
            self.source_chain_id,
            self.dest_chain_id,
            Web3.to_checksum_address(self.from_),
            Web3.to_checksum_address(self.to),
            self.amount,
            self.nonce,
        )


@dataclass(frozen=True, kw_only=True)
class BridgeDomain:
    """The EIP-712 domain of a receiving bridge contract."""

    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 encoders take it."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": Web3.to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True, kw_only=True)
class RelayerSignature:
    """A relayer's signature of one message: 65 bytes (r, s, v) and who signed."""

    signer: str
    signature: bytes


def message_id(*, source_chain_id: int, dest_chain_id: int, sender: str, nonce: int) -> bytes:
    """The id of message `nonce` that bridge contract `sender` on `source_chain_id` sent to
    `dest_chain_id`: keccak256(abi.encode(...)), as ``messageIdOf`` computes it."""
    encoded = abi_encode(
        ["uint256", "uint256", "address", "uint256"],
        [source_chain_id, dest_chain_id, Web3.to_checksum_address(sender), nonce],
    )
    return keccak(encoded)


def message_from_event(
    event: BridgeLocked | BridgeBurned, *, source_chain_id: int
) -> BridgeMessage:
    """The message a ``BridgeLocked`` / ``BridgeBurned`` event on `source_chain_id` asks the
    relayers to carry. (Check its id with `message_id` and the emitting contract.)"""
    return BridgeMessage(
        message_id=event.message_id,
        source_chain_id=source_chain_id,
        dest_chain_id=event.dest_chain_id,
        from_=event.from_,
        to=event.to,
        amount=event.amount,
        nonce=event.nonce,
    )


def domain_of(deployment: Deployment) -> BridgeDomain:
    """The domain of `deployment`'s bridge contract: what messages *to* that chain are
    signed for. ConfigurationError when its manifest has no bridge."""
    if deployment.bridge is None:
        raise ConfigurationError(f"chain {deployment.chain_id} has no bridge in its manifest")
    return BridgeDomain(
        chain_id=deployment.chain_id,
        verifying_contract=deployment.address(deployment.bridge.contract),
    )


def signable(message: BridgeMessage, domain: BridgeDomain) -> SignableMessage:
    """The EIP-712 signable form of `message` in `domain`."""
    return encode_typed_data(
        domain_data=domain.as_dict(),
        message_types=MESSAGE_TYPES,
        message_data=message.typed_fields(),
    )


def digest(message: BridgeMessage, domain: BridgeDomain) -> bytes:
    """The 32-byte EIP-712 digest relayers sign (the contract's ``hashMessage``)."""
    s = signable(message, domain)
    return keccak(b"\x19" + s.version + s.header + s.body)


def sign(message: BridgeMessage, account: LocalAccount, domain: BridgeDomain) -> RelayerSignature:
    """`account` signs `message` for the receiving contract of `domain`."""
    signed = account.sign_message(signable(message, domain))
    return RelayerSignature(signer=account.address, signature=bytes(signed.signature))


def recover_signer(message: BridgeMessage, domain: BridgeDomain, signature: bytes) -> str:
    """The EIP-55 address that made `signature` of `message` in `domain`."""
    return str(Account.recover_message(signable(message, domain), signature=signature))


def ordered_signatures(signatures: Iterable[RelayerSignature]) -> list[bytes]:
    """The signatures as ``release`` / ``deliver`` take them: ascending by signer address,
    one per signer (a signature collected twice counts once; the contract refuses
    duplicates and any other order)."""
    by_signer = {int(s.signer, 16): s.signature for s in signatures}
    return [by_signer[signer] for signer in sorted(by_signer)]


def dev_relayers() -> tuple[LocalAccount, ...]:
    """The dev chains' relayer keys (anvil's dev accounts 7, 8, 9; never on a real chain)."""
    return tuple(dev_account(i) for i in DEV_RELAYER_INDEXES)
