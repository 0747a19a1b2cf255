"""Small helpers shared by the contract tests: funding, permits, time travel, reverts,
events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from common.chain import RevertError, Transactor, decode_revert
from contracts.artifacts import load_artifact
from tests.conftest import Platform

WAD = 10**18
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32


def coin(chain: Platform) -> Contract:
    """The deployed DataCoin."""
    return chain.client.contract("DataCoin")


def fund(chain: Platform, to: str, amount: int) -> None:
    """Transfer `amount` DATACOIN wei from the deployer (who holds the initial supply)."""
    chain.deployer.send(coin(chain).functions.transfer(to, amount))


def approve(tx: Transactor, token: Contract, spender: str, amount: int) -> None:
    """`tx` approves `spender` for `amount` of `token`."""
    tx.send(token.functions.approve(spender, amount))


#: EIP-2612's signed struct (OpenZeppelin ERC20Permit).
PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class PermitSignature:
    """A signed EIP-2612 permit: what `permit` and the *WithPermit functions take."""

    deadline: int
    v: int
    r: bytes
    s: bytes

    def call_args(self) -> tuple[int, int, bytes, bytes]:
        """(deadline, v, r, s): the trailing arguments of every *WithPermit function."""
        return (self.deadline, self.v, self.r, self.s)


def sign_permit(
    token: Contract,
    *,
    signer: LocalAccount,
    spender: str,
    value: int,
    deadline: int,
    owner: str | None = None,
) -> PermitSignature:
    """`signer` signs a permit letting `spender` spend `value` of `owner`'s tokens (default:
    the signer's own) until `deadline`, at the owner's current nonce."""
    owner = owner or signer.address
    domain = {
        "name": "DATACOIN",
        "version": "1",
        "chainId": token.w3.eth.chain_id,
        "verifyingContract": token.address,
    }
    message = {
        "owner": owner,
        "spender": spender,
        "value": value,
        "nonce": token.functions.nonces(owner).call(),
        "deadline": deadline,
    }
    signed = signer.sign_typed_data(domain, PERMIT_TYPES, message)
    return PermitSignature(
        deadline=deadline,
        v=signed.v,
        r=signed.r.to_bytes(32, "big"),
        s=signed.s.to_bytes(32, "big"),
    )


def balance(token: Contract, who: str) -> int:
    """Token balance of `who`."""
    return int(token.functions.balanceOf(who).call())


def advance_time(w3: Web3, seconds: int) -> None:
    """Move the chain clock forward by `seconds` and mine a block."""
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def block_time(w3: Web3, receipt: TxReceipt) -> int:
    """Timestamp of the block that included `receipt`."""
    return int(w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def latest_time(w3: Web3) -> int:
    """Timestamp of the latest block."""
    return int(w3.eth.get_block("latest")["timestamp"])


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """Decoded args of every `name` event emitted by `contract` in `receipt`, in order."""
    event = getattr(contract.events, name)()
    return [
        dict(log["args"])
        for log in event.process_receipt(receipt, errors=DISCARD)
        if log["address"] == contract.address
    ]


def single_event(contract: Contract, name: str, receipt: TxReceipt) -> dict[str, Any]:
    """The one `name` event `contract` emitted in `receipt` (fails unless exactly one)."""
    found = events(contract, name, receipt)
    assert len(found) == 1, f"expected one {name} event, got {found}"
    return found[0]


@contextmanager
def reverts(error: str, *args: Any) -> Iterator[pytest.ExceptionInfo[RevertError]]:
    """Expect a transaction to revert with custom error `error` (and exactly `args`)."""
    with pytest.raises(RevertError) as info:
        yield info
    assert info.value.error == error, f"expected {error}, got {info.value}"
    if args:
        assert normalize(info.value.error_args) == normalize(args)


def normalize(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Decoded error args in comparable form: checksummed addresses, plain bytes."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, str) and Web3.is_address(value):
            out.append(Web3.to_checksum_address(value))
        elif isinstance(value, bytes):
            out.append(bytes(value))
        else:
            out.append(value)
    return tuple(out)


def call_revert(call: ContractFunction) -> RevertError:
    """Run a view call that must revert and return its decoded custom error."""
    with pytest.raises(ContractLogicError) as info:
        call.call()
    data = info.value.data
    return decode_revert(data if isinstance(data, str) else None)


def deploy(tx: Transactor, name: str, *args: Any) -> Contract:
    """Deploy artifact `name` from `tx` and bind it."""
    artifact = load_artifact(name)
    factory = tx.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = tx.send(factory.constructor(*args))
    address = receipt["contractAddress"]
    assert address is not None
    return tx.w3.eth.contract(address=address, abi=artifact["abi"])


def list_dataset(
    chain: Platform,
    provider: Transactor,
    price: int,
    *,
    access_duration: int = 0,
    cid: str = "bafy-meta",
    content_hash: bytes = b"\x11" * 32,
    category: str = "tabular",
) -> int:
    """`provider` lists a dataset; returns its id."""
    market = chain.client.contract("Marketplace")
    receipt = provider.send(
        market.functions.listDataset(cid, content_hash, category, price, access_duration)
    )
    return int(single_event(market, "DatasetListed", receipt)["datasetId"])


def buy(chain: Platform, buyer: Transactor, dataset_id: int, price: int) -> TxReceipt:
    """Fund `buyer` with `price`, approve the marketplace and purchase `dataset_id`."""
    market = chain.client.contract("Marketplace")
    if price:
        fund(chain, buyer.address, price)
        approve(buyer, coin(chain), market.address, price)
    return buyer.send(market.functions.purchase(dataset_id, price))
