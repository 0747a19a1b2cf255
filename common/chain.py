"""Chain client: web3 connection, contract bindings from the manifest, and transactions
whose reverts are decoded into the contracts' custom errors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from common.errors import PermanentError
from common.manifest import Deployment
from contracts.artifacts import ARTIFACTS_DIR, load_artifact

#: anvil's (and hardhat's) public development mnemonic: its keys hold test ETH only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
#: Chains where the dev mnemonic's keys are acceptable defaults (31338: the second dev
#: anvil, the bridge's remote chain).
DEV_CHAIN_IDS = frozenset({31337, 31338, 1337})
#: Headroom over the gas estimate (1/5 = 20%): state can shift between estimate and inclusion.
GAS_MARGIN_DIVISOR = 5


class RevertError(PermanentError):
    """A transaction or call reverted; `error` is the custom error's name when known."""

    def __init__(self, error: str, args: tuple[Any, ...], raw: str) -> None:
        super().__init__(f"reverted with {error}{args!r}" if error else f"reverted: {raw}")
        self.error = error
        self.error_args = args
        self.raw = raw


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """An HTTP web3 connection (no middleware: our chains are all PoS/anvil)."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


def dev_account(index: int = 0) -> LocalAccount:
    """The dev mnemonic's account `index` (anvil funds the first ten)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


@cache
def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    """selector -> (error name, arg types) across every committed contract ABI."""
    table: dict[bytes, tuple[str, list[str]]] = {
        function_signature_to_4byte_selector("Error(string)"): ("Error", ["string"]),
        function_signature_to_4byte_selector("Panic(uint256)"): ("Panic", ["uint256"]),
    }
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        for item in load_artifact(path.stem)["abi"]:
            if item["type"] == "error":
                types = [_abi_type(i) for i in item["inputs"]]
                sig = f"{item['name']}({','.join(types)})"
                table[function_signature_to_4byte_selector(sig)] = (item["name"], types)
    return table


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def decode_revert(data: str | bytes | None) -> RevertError:
    """Turn revert data into a RevertError naming the custom error and its arguments."""
    raw = data.hex() if isinstance(data, bytes) else (data or "")
    blob = bytes.fromhex(raw.removeprefix("0x")) if raw else b""
    known = _error_table().get(blob[:4])
    if known is None:
        return RevertError("", (), raw)
    name, types = known
    return RevertError(name, tuple(abi_decode(types, blob[4:])), raw)


@dataclass
class ChainClient:
    """A web3 connection plus the platform's contracts bound from a manifest."""

    w3: Web3
    deployment: Deployment

    def contract(self, name: str) -> Contract:
        """Contract `name` bound to its manifest address, with its artifact's ABI."""
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(self.deployment.address(name)),
            abi=self.deployment.abi(name),
        )


class Transactor:
    """Signs and sends transactions from one local key, waiting for their receipts."""

    def __init__(self, w3: Web3, account: LocalAccount, timeout: float = 120.0) -> None:
        self.w3 = w3
        self.account = account
        self.timeout = timeout

    @property
    def address(self) -> str:
        """The sender's checksummed address."""
        return str(self.account.address)

    def send(self, call: ContractFunction | ContractConstructor, value: int = 0) -> TxReceipt:
        """Estimate, sign, send and wait. Raises RevertError with the decoded custom error."""
        params: dict[str, Any] = {
            "from": self.account.address,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "chainId": self.w3.eth.chain_id,
            "value": value,
        }
        try:
            tx = call.build_transaction({**params, "gas": 0})  # type: ignore[arg-type]
            # Estimate against the pending block, where the transaction will run: against
            # "latest", a write that extends a per-block checkpoint (ERC20Votes) made in the
            # latest block is priced as an in-place update and then runs out of gas.
            del tx["gas"]
            estimate = self.w3.eth.estimate_gas(tx, "pending")
        except ContractLogicError as exc:
            raise decode_revert(exc.data if isinstance(exc.data, str) else None) from exc
        tx["gas"] = estimate + estimate // GAS_MARGIN_DIVISOR
        signed = self.account.sign_transaction(dict(tx))  # type: ignore[arg-type]
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=self.timeout, poll_latency=0.05
        )
        if receipt["status"] != 1:
            raise RevertError("", (), f"transaction {tx_hash.hex()} failed")
        return receipt

    def send_all(self, calls: Iterable[ContractFunction]) -> list[TxReceipt]:
        """Send calls one after another (each waits for the previous receipt)."""
        return [self.send(call) for call in calls]
