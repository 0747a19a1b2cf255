"""The bridge end to end on two anvils (chains 31337 and 31338) into one store: lock → final
→ relayed → minted → a dataset listed and bought on the second chain with it → burned →
released. The relayers are `datacoin relay` processes, one key each (two signatures a
message), and one of them is killed with SIGKILL after it signed; a lock on the home chain
is orphaned by a reorg before it is final. It ends with the supply invariant holding
(`datacoin verify bridge`), every message delivered exactly once, and the orphaned lock
never minted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from cli.commands.stack import Stack
from cli.commands.verify_bridge import verify_bridge
from common.anvil import AnvilNode, free_port, start_anvil
from common.bridge import DEV_THRESHOLD, dev_relayers, message_id
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import BridgedPair, deploy_bridged_pair
from common.settings import ChainEndpoint, Settings
from indexer.store_pg import PostgresEventStore
from projections.replay import replay
from projections.statehash import state_snapshot
from tests.conftest import clone_database, drop_database, service_missing
from tests.procs import alive
from workers.bridge.build import build_relayer

WAD = 10**18
REMOTE_CHAIN_ID = 31338
BUYER, PROVIDER = 2, 1
CONFIRMATIONS = 2


@dataclass
class Bridged:
    """Two chains, bridged, indexed into one database, with the API up."""

    home: ChainClient
    remote: ChainClient
    settings: Settings
    stack: Stack
    api: httpx.Client

    def send(self, client: ChainClient, who: int, call: Any) -> Any:
        return Transactor(client.w3, dev_account(who)).send(call)

    def finalize(self, client: ChainClient) -> None:
        client.w3.provider.make_request("anvil_mine", [hex(CONFIRMATIONS + 1)])  # type: ignore[arg-type]

    def signatures(self, message_id: bytes) -> int:
        with psycopg.connect(self.settings.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM bridge_signatures WHERE message_id = %s", (message_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def transfer(self, message_id: bytes) -> Any:
        reply = self.api.get(f"/bridge/transfers/0x{message_id.hex()}")
        return reply.json() if reply.status_code == 200 else None


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _start(chain_id: int | None = None) -> AnvilNode:
    try:
        return start_anvil(extra_args=["--chain-id", str(chain_id)] if chain_id else None)
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise


@pytest.fixture
def bridged(migrated_template: str, redis_url: str, tmp_path: Path) -> Iterator[Bridged]:
    home_node, remote_node = _start(), _start(REMOTE_CHAIN_ID)
    db_url = clone_database(migrated_template)
    stack: Stack | None = None
    try:
        pair: BridgedPair = deploy_bridged_pair(
            Transactor(connect(home_node.url), dev_account(0)),
            Transactor(connect(remote_node.url), dev_account(0)),
            relayers=tuple(account.address for account in dev_relayers()),
            threshold=DEV_THRESHOLD,
        )
        home_manifest, remote_manifest = tmp_path / "home.json", tmp_path / "remote.json"
        pair.home.save(home_manifest)
        pair.remote.save(remote_manifest)
        port = free_port()
        settings = Settings(
            rpc_url=home_node.url,
            database_url=db_url,
            redis_url=redis_url,
            data_dir=tmp_path,
            manifest_path=home_manifest,
            remote_chains=[ChainEndpoint(rpc_url=remote_node.url, manifest_path=remote_manifest)],
            api_port=port,
            confirmations=CONFIRMATIONS,
            poll_interval=0.05,
            index_workers=0,
            bridge_relayer_interval=0.1,
        )
        stack = Stack(settings, pair.home, relay=False)  # the relayers are processes here
        stack.start()
        with httpx.Client(base_url=stack.api_url, timeout=10) as api:
            yield Bridged(
                home=ChainClient(connect(home_node.url), pair.home),
                remote=ChainClient(connect(remote_node.url), pair.remote),
                settings=settings,
                stack=stack,
                api=api,
            )
    finally:
        if stack is not None:
            stack.stop()
        home_node.stop()
        remote_node.stop()
        drop_database(db_url)


def relayer(
    settings: Settings, key_index: int, metrics_port: int | None = None
) -> subprocess.Popen[bytes]:
    """`datacoin relay` in its own process, signing with one dev relayer key (and serving
    its metrics on `metrics_port` when given)."""
    key = "0x" + bytes(dev_account(key_index).key).hex()
    remote = settings.remote_chains[0]
    env = {
        **os.environ,
        "DATACOIN_RPC_URL": settings.rpc_url,
        "DATACOIN_DATABASE_URL": settings.database_url,
        "DATACOIN_MANIFEST_PATH": str(settings.manifest_file),
        "DATACOIN_REMOTE_CHAINS": f'[{{"rpc_url": "{remote.rpc_url}",'
        f' "manifest_path": "{remote.manifest_path}"}}]',
        "DATACOIN_BRIDGE_RELAYER_KEYS": f'["{key}"]',
        "DATACOIN_BRIDGE_RELAYER_INTERVAL": "0.1",
        "DATACOIN_CONFIRMATIONS": str(settings.confirmations),
        "DATACOIN_LOG_FORMAT": "json",
    }
    if metrics_port is not None:
        env["DATACOIN_METRICS_PORT"] = str(metrics_port)
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "relay"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def scrape(port: int) -> str | None:
    """The text of a metrics endpoint on 127.0.0.1, or None while it does not answer."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None


def message_of(contract: Contract, event: str, receipt: Any) -> bytes:
    (sent,) = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
    return bytes(sent["args"]["messageId"])


def deliveries(client: ChainClient, contract: str, event: str) -> list[bytes]:
    """The message ids of every delivery event on `client`'s chain, from the node's logs."""
    bridge = client.contract(contract)
    logs = getattr(bridge.events, event)().get_logs(from_block=0)
    return [bytes(log["args"]["messageId"]) for log in logs]


def test_lock_relay_mint_trade_burn_release_with_a_kill_and_a_reorg(bridged: Bridged) -> None:
    b = bridged
    buyer = dev_account(BUYER).address
    coin, vault = b.home.contract("DataCoin"), b.home.contract("BridgeVault")
    bridged_coin, gateway = b.remote.contract("DataCoin"), b.remote.contract("BridgeGateway")
    b.send(b.home, 0, coin.functions.transfer(buyer, 1_000 * WAD))
    b.send(b.home, BUYER, coin.functions.approve(vault.address, 1_000 * WAD))

    # Given a final lock and one relayer (one key of the two needed) that signs it
    first = b.send(b.home, BUYER, vault.functions.lock(buyer, 300 * WAD, REMOTE_CHAIN_ID))
    first_id = message_of(vault, "BridgeLocked", first)
    b.finalize(b.home)
    port = free_port()
    seven = relayer(b.settings, 7, metrics_port=port)
    relayers = [seven]
    try:
        wait_for("relayer 7's signature", lambda: b.signatures(first_id) == 1)
        # its metrics: one final send waits (for a second signature), and it said so
        scraped = wait_for("the relayer's metrics", lambda: scrape(port))
        assert 'datacoin_bridge_backlog{source_chain_id="31337"} 1.0' in scraped
        waiting = 'outcome="waiting_for_signatures"'
        assert any(waiting in line for line in scraped.splitlines()), scraped
        # When it is killed with SIGKILL before any second signature exists
        seven.send_signal(signal.SIGKILL)
        seven.wait(timeout=10)
        assert not alive(seven.pid)
        assert not gateway.functions.processed(first_id).call()
        assert b.transfer(first_id)["state"] == "final"

        # Then the restarted relayer and a second one deliver it, once
        relayers += [relayer(b.settings, 7), relayer(b.settings, 8)]
        delivered = wait_for(
            "the mint", lambda: (t := b.transfer(first_id)) and t["state"] == "delivered" and t
        )
        assert delivered["delivery"]["chain_id"] == REMOTE_CHAIN_ID
        assert bridged_coin.functions.balanceOf(buyer).call() == 300 * WAD

        # And a lock orphaned by a reorg before it is final is never signed nor minted,
        # while both relayers run
        orphan = b.send(b.home, BUYER, vault.functions.lock(buyer, 50 * WAD, REMOTE_CHAIN_ID))
        orphan_id = message_of(vault, "BridgeLocked", orphan)
        wait_for("the orphan in the API", lambda: b.transfer(orphan_id))
        assert b.transfer(orphan_id)["state"] == "pending"
        time.sleep(1.0)  # ten relayer passes
        assert b.signatures(orphan_id) == 0
        b.home.w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
        b.finalize(b.home)
        wait_for("the orphan's retraction", lambda: b.transfer(orphan_id) is None)
        time.sleep(1.0)
        assert b.signatures(orphan_id) == 0

        # And the bridged DATACOIN buys a dataset listed on the second chain
        market = b.remote.contract("Marketplace")
        b.send(
            b.remote,
            PROVIDER,
            market.functions.listDataset("bafy-remote", b"\x01" * 32, "tabular", 40 * WAD, 0),
        )
        dataset_id = market.functions.datasetCount().call()
        b.send(b.remote, BUYER, bridged_coin.functions.approve(market.address, 40 * WAD))
        b.send(b.remote, BUYER, market.functions.purchase(dataset_id, 40 * WAD))
        params = {"chain_id": REMOTE_CHAIN_ID}
        shown = wait_for(
            "the purchase on chain 31338",
            lambda: (
                (r := b.api.get(f"/datasets/{dataset_id}", params=params)).status_code == 200
                and r.json()["purchases"] == 1
            ),
        )
        assert shown

        # And the rest goes back: burned on the second chain, released on the home chain
        before = coin.functions.balanceOf(buyer).call()
        burned = b.send(b.remote, BUYER, gateway.functions.burn(buyer, 260 * WAD, 31337))
        burn_id = message_of(gateway, "BridgeBurned", burned)
        b.finalize(b.remote)
        wait_for("the release", lambda: (t := b.transfer(burn_id)) and t["state"] == "delivered")
        assert coin.functions.balanceOf(buyer).call() == before + 260 * WAD
    finally:
        for process in relayers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)

    # Then every message was delivered exactly once, and the orphan never
    assert deliveries(b.remote, "BridgeGateway", "BridgeMinted") == [first_id]
    assert deliveries(b.home, "BridgeVault", "BridgeReleased") == [burn_id]
    assert not gateway.functions.processed(orphan_id).call()
    # And the supply invariant holds on chain, in the read models and between them
    b.finalize(b.home)
    wait_for(
        "the indexers at the heads",
        lambda: all(
            i.cursor.number >= c.w3.eth.block_number - 1
            for i, c in zip(b.stack.indexers, (b.home, b.remote), strict=True)
        ),
    )
    locked = vault.functions.totalLocked().call()
    assert locked == bridged_coin.functions.totalSupply().call() == 40 * WAD
    report = wait_for("a clean bridge report", lambda: (r := verify_bridge(b.settings)).ok and r)
    assert len(report.checked) == 3
    summary = b.api.get("/bridge").json()
    assert summary["in_flight"] == {"count": 0, "amount": "0"}
    assert summary["delivered"]["count"] == 2
    sides = {side["role"]: side for side in summary["chains"]}
    assert sides["home"]["locked"] == sides["remote"]["bridged_supply"] == str(40 * WAD)
    mine = b.api.get(f"/accounts/{buyer}/bridge-transfers").json()["items"]
    assert [Web3.to_bytes(hexstr=t["message_id"]) for t in mine] == [burn_id, first_id]
    # And the read models, through the reorg, are a function of the two canonical chains
    store = PostgresEventStore(b.settings.database_url)
    try:
        head = store.head().position
        wait_for(
            "the projector at the head",
            lambda: state_snapshot(b.settings.database_url, "readmodels")[1] >= head,
        )
        live, position = state_snapshot(b.settings.database_url, "readmodels")
        assert replay(b.settings.database_url, store, until=position).state_hash == live
    finally:
        store.close()


def test_a_lock_orphaned_after_its_delivery_is_reported(bridged: Bridged) -> None:
    """Given a lock delivered on the second chain, when a reorg deeper than the finality
    depth removes it from the home chain, then `datacoin verify bridge` reports a delivery
    without its send (the beyond-finality alert) and the invariant's break."""
    b = bridged
    buyer = dev_account(BUYER).address
    coin, vault = b.home.contract("DataCoin"), b.home.contract("BridgeVault")
    b.send(b.home, 0, coin.functions.transfer(buyer, 100 * WAD))
    b.send(b.home, BUYER, coin.functions.approve(vault.address, 100 * WAD))
    locked = b.send(b.home, BUYER, vault.functions.lock(buyer, 100 * WAD, REMOTE_CHAIN_ID))
    message_id = message_of(vault, "BridgeLocked", locked)
    b.finalize(b.home)
    process = relayer(b.settings, 7), relayer(b.settings, 8)
    try:
        wait_for("the mint", lambda: (t := b.transfer(message_id)) and t["state"] == "delivered")
    finally:
        for p in process:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=15)
    assert verify_bridge(b.settings).ok
    depth = b.home.w3.eth.block_number - locked["blockNumber"] + 1
    b.home.w3.provider.make_request("anvil_reorg", [depth, []])  # type: ignore[arg-type]
    wait_for("the retraction", lambda: b.transfer(message_id) is None)
    report = wait_for("the report", lambda: (r := verify_bridge(b.settings)).problems and r)
    assert any("whose send is not on the canonical source chain" in p for p in report.problems)
    assert any("vault totalLocked = remote totalSupply" in p for p in report.problems)


def test_a_send_the_source_chain_does_not_confirm_is_never_signed(bridged: Bridged) -> None:
    """The read model may call a send final before a reorg's retraction is folded (the
    indexer's finality moved on first): the relayer asks the source chain itself. Given a
    `bridge_sends` row whose transaction no chain has, with its block below the finalized
    head, when a relayer with every dev key runs, then nothing is signed or delivered."""
    b = bridged
    b.finalize(b.home)
    wait_for("a finalized head", lambda: b.stack.indexers[0].finalized > 0)
    vault = b.home.contract("BridgeVault")
    ghost_id = message_id(
        source_chain_id=31337, dest_chain_id=REMOTE_CHAIN_ID, sender=vault.address, nonce=999
    )
    row = {
        "chain_id": 31337,
        "block_hash": b"\x07" * 32,
        "log_index": 0,
        "message_id": ghost_id,
        "kind": "lock",
        "dest_chain_id": REMOTE_CHAIN_ID,
        "sender": b"\x11" * 20,
        "recipient": b"\x11" * 20,
        "amount": 10**24,
        "nonce": 999,
        "contract": bytes.fromhex(vault.address[2:]),
        "tx_hash": b"\x09" * 32,
        "sent_at": datetime.now(UTC),
        "block_number": 1,
    }
    columns = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    with psycopg.connect(b.settings.database_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO readmodels.bridge_sends ({columns}) VALUES ({values})", row)
    relayer_ = build_relayer(b.settings)
    outcomes = relayer_.relay_once()
    assert [(o.message_id, o.action) for o in outcomes] == [("0x" + ghost_id.hex(), "not_final")]
    assert b.signatures(ghost_id) == 0
    assert not b.remote.contract("BridgeGateway").functions.processed(ghost_id).call()


def test_a_message_waiting_for_other_operators_costs_one_call_a_pass(bridged: Bridged) -> None:
    """A relayer that has confirmed and signed a send does not ask the source chain again
    while the message waits for other operators' signatures: a later pass asks the
    destination whether it was processed (plus its relayer set and threshold, once a pass
    and chain), and nothing of the source chain. Given a final lock and a relayer with one
    key of the two needed, when it passes three times, then it signed once and its second
    and third passes made 3 calls each to the destination and none to the source."""
    b = bridged
    buyer = dev_account(BUYER).address
    coin, vault = b.home.contract("DataCoin"), b.home.contract("BridgeVault")
    b.send(b.home, 0, coin.functions.transfer(buyer, 100 * WAD))
    b.send(b.home, BUYER, coin.functions.approve(vault.address, 100 * WAD))
    locked = b.send(b.home, BUYER, vault.functions.lock(buyer, 10 * WAD, REMOTE_CHAIN_ID))
    ident = message_of(vault, "BridgeLocked", locked)
    b.finalize(b.home)
    wait_for("the final send", lambda: (t := b.transfer(ident)) and t["state"] == "final")

    relayer_ = build_relayer(b.settings)
    relayer_.signers = relayer_.signers[:1]
    calls: dict[int, list[str]] = {31337: [], REMOTE_CHAIN_ID: []}
    for chain_id, client in relayer_.chains.items():
        provider: Any = client.w3.provider

        def counted(
            method: Any,
            params: Any,
            _log: list[str] = calls[chain_id],
            _request: Callable[[Any, Any], Any] = provider.make_request,
        ) -> Any:
            _log.append(str(method))
            return _request(method, params)

        provider.make_request = counted

    outcomes = relayer_.relay_once()
    assert [o.action for o in outcomes] == ["waiting_for_signatures"]
    assert calls[31337], "the first pass confirms the send on the source chain"
    assert b.signatures(ident) == 1
    for _ in range(2):
        calls[31337].clear()
        calls[REMOTE_CHAIN_ID].clear()
        outcomes = relayer_.relay_once()
        assert [o.action for o in outcomes] == ["waiting_for_signatures"]
        assert calls[31337] == []
        # (web3 asks eth_chainId around each eth_call; no other request is made)
        assert [m for m in calls[REMOTE_CHAIN_ID] if m != "eth_chainId"] == ["eth_call"] * 3
    assert b.signatures(ident) == 1
