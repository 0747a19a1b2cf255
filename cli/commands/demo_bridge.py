"""The demo's bridge step: DATACOIN crosses to the second chain, a dataset is listed and
bought there with it, and the rest comes back, every leg shown by the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from common.chain import ChainClient, Transactor, dev_account

WAD = 10**18
PROVIDER, BUYER = 1, 2
BRIDGED = 100 * WAD
PRICE = 15 * WAD


class BridgeStep:
    """Step 8 of the demo, on the home chain `home` and the remote chain `remote`."""

    def __init__(
        self,
        home: ChainClient,
        remote: ChainClient,
        http: httpx.Client,
        *,
        confirmations: int,
        say: Callable[[str], None],
        print_tx: Callable[[str, Any], None],
        wait: Callable[[str, Callable[[], Any]], Any],
        sign_in: Callable[[int], dict[str, str]],
    ) -> None:
        self.home, self.remote, self.http = home, remote, http
        self.confirmations = confirmations
        self.say, self.print_tx, self.wait, self.sign_in = say, print_tx, wait, sign_in

    def _send(self, client: ChainClient, who: int, call: Any, label: str) -> Any:
        receipt = Transactor(client.w3, dev_account(who)).send(call)
        self.print_tx(f"{label} (chain {client.deployment.chain_id})", receipt)
        return receipt

    def _finalize(self, client: ChainClient) -> None:
        depth = self.confirmations + 1
        client.w3.provider.make_request("anvil_mine", [hex(depth)])  # type: ignore[arg-type]

    def _delivered(self, message_id: str) -> Any:
        reply = self.http.get(f"/bridge/transfers/{message_id}")
        if reply.status_code != 200:
            return None
        body = reply.json()
        return body if body["state"] == "delivered" else None

    def _cross(self, client: ChainClient, receipt: Any, event: str, contract: Contract) -> Any:
        """Finalize the send, then wait for the relayers' delivery on the other chain."""
        (sent,) = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
        message_id = Web3.to_hex(sent["args"]["messageId"])
        self._finalize(client)
        self.say(f"  final on chain {client.deployment.chain_id}; the relayers carry {message_id}")
        transfer = self.wait("the bridge delivery", lambda: self._delivered(message_id))
        leg = transfer["delivery"]
        self.say(
            f"  API: delivered on chain {leg['chain_id']}: tx {leg['tx_hash']} block"
            f" {leg['block_number']}"
        )
        return transfer

    def run(self) -> None:
        buyer = dev_account(BUYER).address
        home_coin, remote_coin = self.home.contract("DataCoin"), self.remote.contract("DataCoin")
        vault, gateway = self.home.contract("BridgeVault"), self.remote.contract("BridgeGateway")
        remote_id = self.remote.deployment.chain_id
        self._send(self.home, BUYER, home_coin.functions.approve(vault.address, BRIDGED), "approve")
        locked = self._send(
            self.home, BUYER, vault.functions.lock(buyer, BRIDGED, remote_id), "lock 100"
        )
        self._cross(self.home, locked, "BridgeLocked", vault)
        balance = remote_coin.functions.balanceOf(buyer).call()
        self.say(f"  the buyer holds {balance / WAD:g} bridged DATACOIN on chain {remote_id}")

        dataset_id = self._list_remote()
        market = self.remote.contract("Marketplace")
        approve = remote_coin.functions.approve(market.address, PRICE)
        self._send(self.remote, BUYER, approve, "approve")
        self._send(self.remote, BUYER, market.functions.purchase(dataset_id, PRICE), "purchase")
        bought = self.wait("the purchase on the second chain", lambda: self._purchases(dataset_id))
        self.say(f"  API: dataset {dataset_id} on chain {remote_id} has {bought} purchase(s)")

        rest = remote_coin.functions.balanceOf(buyer).call()
        home_id = self.home.deployment.chain_id
        burned = self._send(
            self.remote, BUYER, gateway.functions.burn(buyer, rest, home_id), f"burn {rest / WAD:g}"
        )
        self._cross(self.remote, burned, "BridgeBurned", gateway)
        summary = self.http.get("/bridge").json()
        for side in summary["chains"]:
            held = side["locked"] if side["role"] == "home" else side["bridged_supply"]
            what = "locked in the vault" if side["role"] == "home" else "bridged supply"
            chain = f"chain {side['chain_id']} ({side['role']})"
            self.say(f"  API: {chain}: {what} {int(held) / WAD:g} DATACOIN")
        self.say(f"  API: in flight {summary['in_flight']['count']}")

    def _list_remote(self) -> int:
        provider = self.sign_in(PROVIDER)
        remote_id = self.remote.deployment.chain_id
        form = {
            "title": "Penguins of Palmer Station (second chain)",
            "category": "tabular",
            "description": "Listed on the second chain, bought with bridged DATACOIN.",
            "price": str(PRICE),
            "tags": "biology,bridged",
            "license": "CC0-1.0",
        }
        csv = b"species,bill_length_mm,flipper_length_mm\nAdelie,39.1,181\nGentoo,46.1,211\n"
        reply = self.http.post(
            "/uploads",
            data=form,
            files={"file": ("penguins.csv", csv)},
            headers=provider,
            params={"chain_id": remote_id},
        )
        reply.raise_for_status()
        listing = reply.json()["listing"]
        market = self.remote.contract("Marketplace")
        assert listing["to"] == market.address  # the API answered the second chain's calldata
        args = listing["args"]
        call = market.functions.listDataset(
            args["metadataCid"],
            bytes.fromhex(args["contentHash"][2:]),
            args["category"],
            int(args["price"]),
            args["accessDuration"],
        )
        self._send(self.remote, PROVIDER, call, "listDataset")
        return int(market.functions.datasetCount().call())

    def _purchases(self, dataset_id: int) -> Any:
        reply = self.http.get(
            f"/datasets/{dataset_id}", params={"chain_id": self.remote.deployment.chain_id}
        )
        return reply.json()["purchases"] if reply.status_code == 200 else None
