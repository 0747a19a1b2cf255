"""The stack the dApp's journeys run against, and the steps they share.

A fresh anvil with the platform deployed, a fresh migrated database, and `datacoin up`'s
in-process stack (cli/commands/stack.py): the indexer and projector following the chain, the
resolver fetching metadata, and a real uvicorn serving `api.app.create_app` — which serves
the static dApp (web/out) at `/` once it is built.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from web3 import Web3

from cli.commands.demo import worker_loop
from cli.commands.stack import Stack
from common.anvil import AnvilNode, free_port, start_anvil
from common.bridge import DEV_THRESHOLD, dev_relayers
from common.chain import ChainClient, Transactor, dev_account
from common.chain import connect as connect_rpc
from common.deploy import DeployConfig, deploy_bridged_pair
from common.settings import ChainEndpoint, Settings
from tests.api.test_siwe import signed, siwe_text
from tests.conftest import (
    GOVERNED,
    Platform,
    clone_database,
    deploy_fresh,
    drop_database,
    service_missing,
)
from tests.indexer.activity import WAD, fund, rpc_call
from tests.web.wallet import RDNS, WalletConfig

REPO = Path(__file__).resolve().parents[2]
WEB_OUT = REPO / "web" / "out"
DAPP_MISSING = "dApp not built (web/out missing)"
CONFIRMATIONS = 2
PROVIDER, BUYER = 1, 2  # dev accounts (anvil funds both with ETH; the buyer gets DATACOIN)
HOME_NAME = "Home chain (anvil)"
SECOND_CHAIN_ID = 31338
SECOND_NAME = f"Second chain (anvil {SECOND_CHAIN_ID})"


def dapp_built() -> bool:
    """Whether the static export exists (the journeys skip until it does)."""
    return (WEB_OUT / "index.html").exists()


@dataclass
class Upload:
    """A dataset uploaded through POST /uploads and listed on chain."""

    dataset_id: int
    title: str
    data: bytes
    price: int


@dataclass
class Chain:
    """One more chain of the stack (`running_dapp(second_chain=True)`): its anvil and the
    platform deployed there."""

    node: AnvilNode
    platform: Platform

    @property
    def chain_id(self) -> int:
        return int(self.platform.client.w3.eth.chain_id)


@dataclass
class Dapp:
    """The running stack: `url` serves the API and the pages. `node`/`platform` are the home
    chain's; `remotes` the further chains' (none unless asked for)."""

    url: str
    node: AnvilNode
    platform: Platform
    settings: Settings
    stack: Stack
    remotes: list[Chain] = field(default_factory=list)

    @property
    def w3(self) -> Web3:
        return self.platform.client.w3

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def on(self, chain_id: int | None) -> Platform:
        """The platform on chain `chain_id` (the home chain's when None)."""
        if chain_id is None or chain_id == self.chain_id:
            return self.platform
        return next(r.platform for r in self.remotes if r.chain_id == chain_id)

    def address(self, index: int) -> str:
        return self.platform.account(index).address

    def wallet(self, index: int, **options: Any) -> WalletConfig:
        """The injected wallet playing dev account `index` on the home anvil, knowing the
        further chains' networks too (pass `chains={}` for a wallet that knows only home)."""
        options.setdefault("chains", {r.chain_id: r.node.url for r in self.remotes})
        return WalletConfig(account=self.address(index), rpc_url=self.node.url, **options)

    def mine(self, blocks: int = 1) -> None:
        """`blocks` new blocks on every chain of the stack."""
        for w3 in [self.w3, *(r.platform.client.w3 for r in self.remotes)]:
            for _ in range(blocks):
                rpc_call(w3, "evm_mine", [])

    def bridge_out(self, index: int, amount: int) -> None:
        """Dev account `index` locks `amount` DATACOIN on home for itself on the second
        chain (web3, not the page); returns once the relayer minted it there."""
        remote = self.remotes[0]
        coin = remote.platform.client.contract("DataCoin")
        me = self.address(index)
        before = int(coin.functions.balanceOf(me).call())
        vault = self.platform.client.contract("BridgeVault")
        sender = self.platform.account(index)
        home_coin = self.platform.client.contract("DataCoin")
        sender.send(home_coin.functions.approve(vault.address, amount))
        sender.send(vault.functions.lock(me, amount, remote.chain_id))

        def minted() -> bool:
            self.mine(1)  # the lock needs CONFIRMATIONS blocks on top to be relayed
            return int(coin.functions.balanceOf(me).call()) == before + amount

        self.wait_for(minted, f"{amount} wei minted on chain {remote.chain_id}", timeout=60)

    def sign_in(self, index: int) -> dict[str, str]:
        """A SIWE session for dev account `index` (the message names this server's host)."""
        host = self.url.removeprefix("http://")
        with httpx.Client(base_url=self.url, timeout=30) as http:
            nonce = http.get("/auth/nonce").json()["nonce"]
            text = siwe_text(self.address(index), nonce, domain=host, uri=self.url)
            reply = http.post("/auth/verify", json=signed(text, index=index))
            reply.raise_for_status()
        return {"Authorization": f"Bearer {reply.json()['token']}"}

    def upload(
        self,
        title: str,
        data: bytes,
        *,
        price: int = 5 * WAD,
        provider: int = PROVIDER,
        chain_id: int | None = None,
        suffix: str = ".csv",
    ) -> dict[str, Any]:
        """POST /uploads as the provider: the stored dataset and its listing calldata (for
        chain `chain_id`'s Marketplace; the home chain's when None). The file's name ends in
        `suffix`, which names its format."""
        form = {
            "title": title,
            "description": f"{title}: uploaded by the browser tests",
            "category": "tabular",
            "price": str(price),
            "tags": "browser, test",
        }
        with httpx.Client(base_url=self.url, timeout=60) as http:
            reply = http.post(
                "/uploads" + (f"?chain_id={chain_id}" if chain_id is not None else ""),
                data=form,
                files={"file": (re.sub(r"\W+", "-", title.lower()) + suffix, data)},
                headers=self.sign_in(provider),
            )
        assert reply.status_code == 201, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def list_upload(
        self, upload: dict[str, Any], provider: int = PROVIDER, chain_id: int | None = None
    ) -> int:
        """Send the upload's listing calldata from the provider (anvil signs) on chain
        `chain_id` (home when None): the new id."""
        platform = self.on(chain_id)
        w3 = platform.client.w3
        tx = w3.eth.send_transaction(
            {
                "from": self.address(provider),
                "to": upload["listing"]["to"],
                "data": upload["listing"]["data"],
            }
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        market = platform.client.contract("Marketplace")
        return int(market.functions.datasetCount().call())

    def publish(
        self,
        title: str,
        data: bytes,
        *,
        price: int = 5 * WAD,
        chain_id: int | None = None,
        suffix: str = ".csv",
    ) -> Upload:
        """Upload (a file named for the title, ending in `suffix`: its format), list on chain
        `chain_id` (home when None), and wait until the API shows it with its title."""
        upload = self.upload(title, data, price=price, chain_id=chain_id, suffix=suffix)
        dataset_id = self.list_upload(upload, chain_id=chain_id)
        on = chain_id or self.chain_id  # named: an id may exist on several chains
        self.wait_for(lambda: self.dataset(dataset_id, on).get("title") == title, f"{title} shown")
        return Upload(dataset_id, title, data, price)

    def dataset(self, dataset_id: int, chain_id: int | None = None) -> dict[str, Any]:
        chain = f"?chain_id={chain_id}" if chain_id is not None else ""
        reply = httpx.get(f"{self.url}/datasets/{dataset_id}{chain}", timeout=10)
        return reply.json() if reply.status_code == 200 else {}

    def set_price(self, dataset_id: int, price: int, provider: int = PROVIDER) -> None:
        market = self.platform.client.contract("Marketplace")
        self.platform.account(provider).send(market.functions.setPrice(dataset_id, price))

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for: {what}"
            time.sleep(0.1)

    def page_url(self, path: str) -> str:
        return self.url + path

    def dataset_url(self, dataset_id: int, chain_id: int | None = None) -> str:
        return self.page_url(f"/dataset/?id={dataset_id}&chain={chain_id or self.chain_id}")


@contextmanager
def running_dapp(
    template_url: str,
    redis_url: str,
    data_dir: Path,
    *,
    worker: bool = False,
    governance: bool = False,
    second_chain: bool = False,
    bridge: bool = False,
) -> Iterator[Dapp]:
    """A fresh chain, database and stack; everything stopped and dropped afterwards. With
    `worker`, a registered, staked Dramatiq worker trains jobs in the stack (sandboxed, on
    the CPU), on a broker namespace of its own (tests/web/training.py). With `governance`,
    the platform is deployed governed (`GOVERNED`: the Timelock owns the admin functions,
    the dev chain's voting delay, period and Timelock delay). With `second_chain`, a second
    anvil (chain 31338) with the platform deployed too (the buyer funded there as well): the
    stack indexes both, /deployments names both with their RPC URLs, sign-in accepts both.
    With `bridge` (a second chain implied), the two are a bridged pair instead
    (`deploy_bridged_pair`: the second chain's DATACOIN is BridgedDataCoin, minted by its
    gateway only, no faucet there; anvil's dev relayers 7-9, two signatures) and the stack
    runs the relayer: DATACOIN reaches the second chain over the bridge only
    (`Dapp.bridge_out`)."""
    second_chain = second_chain or bridge
    namespace = f"dc-web-{uuid.uuid4().hex[:8]}"
    nodes: list[AnvilNode] = []
    try:
        nodes.append(start_anvil())
        if second_chain:
            nodes.append(start_anvil(extra_args=["--chain-id", str(SECOND_CHAIN_ID)]))
    except Exception as exc:  # any failure to start means "missing service"
        for started in nodes:
            started.stop()
        service_missing("anvil", exc)
        raise
    node = nodes[0]
    db_url = clone_database(template_url)
    stack: Stack | None = None
    try:
        config = GOVERNED if governance else None
        if bridge:
            platform, remotes = deploy_bridged(nodes[0], nodes[1], config)
        else:
            platform = deploy_fresh(node, config)
            remotes = [Chain(node=n, platform=deploy_fresh(n)) for n in nodes[1:]]
            for remote in remotes:
                fund(remote.platform, [BUYER])
        fund(platform, [BUYER])
        manifest = data_dir / "deployment.json"
        platform.deployment.save(manifest)
        endpoints = []
        for remote in remotes:
            path = data_dir / f"deployment-{remote.chain_id}.json"
            remote.platform.deployment.save(path)
            endpoints.append(
                ChainEndpoint(
                    rpc_url=remote.node.url,
                    manifest_path=path,
                    public_rpc_url=remote.node.url,
                    name=SECOND_NAME,
                )
            )
        # Two chains: named, and read by the pages over their RPC URLs (one chain: through
        # the wallet, as a deployment naming no public RPC URL is).
        chains: dict[str, Any] = (
            {
                "remote_chains": endpoints,
                "public_rpc_url": node.url,
                "chain_name": HOME_NAME,
                "bridge_relayer_interval": 0.1,
            }
            if remotes
            else {}
        )
        training: dict[str, Any] = {}
        if worker:
            from tests.web.training import worker_settings  # it imports this module

            training = worker_settings(platform, namespace)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = Settings(
            rpc_url=node.url,
            database_url=db_url,
            redis_url=redis_url,
            data_dir=data_dir,
            manifest_path=manifest,
            api_port=port,
            confirmations=CONFIRMATIONS,
            poll_interval=0.05,
            index_workers=0,
            siwe_domain=f"127.0.0.1:{port}",
            siwe_uri=url,
            siwe_chain_ids=[int(platform.client.w3.eth.chain_id), *(r.chain_id for r in remotes)],
            upload_max_bytes=2 * 2**20,
            **chains,
            **training,
        )
        stack = Stack(settings, platform.deployment)
        stack.start(worker=worker_loop(settings) if worker else None)
        yield Dapp(url, node, platform, settings, stack, remotes)
    finally:
        if stack is not None:
            stack.stop()
        for started in nodes:
            started.stop()
        drop_database(db_url)
        if worker:
            from tests.web.training import forget_namespace

            forget_namespace(redis_url, namespace)


def deploy_bridged(
    home: AnvilNode, remote: AnvilNode, config: DeployConfig | None
) -> tuple[Platform, list[Chain]]:
    """The platform on both anvils with the bridge between them, linked (dev relayers)."""
    txs = [Transactor(connect_rpc(n.url), dev_account(0)) for n in (home, remote)]
    pair = deploy_bridged_pair(
        txs[0],
        txs[1],
        relayers=tuple(account.address for account in dev_relayers()),
        threshold=DEV_THRESHOLD,
        home_config=config,
    )
    platforms = [
        Platform(client=ChainClient(tx.w3, deployment), deployer=tx, config=cfg)
        for tx, deployment, cfg in (
            (txs[0], pair.home, config or DeployConfig()),
            (txs[1], pair.remote, DeployConfig()),
        )
    ]
    return platforms[0], [Chain(node=remote, platform=platforms[1])]


# Steps in the pages (the data-testids are the contract with web/).


def connect(page: Page, address: str) -> None:
    """Connect the page's wallet through the EIP-6963 list."""
    page.get_by_test_id("connect-wallet").click()
    page.locator(f'[data-testid="wallet-option"][data-rdns="{RDNS}"]').click()
    expect(page.get_by_test_id("account-address")).to_contain_text(address)


def sign_in(page: Page) -> None:
    """Sign in with Ethereum (personal_sign) unless the page already has a session."""
    if page.get_by_test_id("sign-out").is_visible():
        return
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("sign-out")).to_be_visible()


def card(page: Page, dataset_id: int) -> Any:
    return page.locator(f'[data-testid="dataset-card"][data-dataset-id="{dataset_id}"]')


TX_STATUS = re.compile(r"^(signing|pending|mined|confirmations \d+/\d+|final|failed|cancelled)$")


def wait_final(page: Page, dapp: Dapp, timeout: float = 60) -> list[str]:
    """Mine blocks until tx-status reads `final`; the statuses seen on the way."""
    status = page.get_by_test_id("tx-status")
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        text = status.inner_text().strip() if status.count() else ""
        if text and (not seen or seen[-1] != text):
            assert TX_STATUS.match(text), f"tx-status {text!r} is not in the contract"
            seen.append(text)
        if text == "final":
            return seen
        assert text not in {"failed", "cancelled"}, f"purchase ended {text}: {seen}"
        assert time.monotonic() < deadline, f"tx-status never reached final: {seen}"
        if text and text != "signing":
            dapp.mine(1)
        time.sleep(0.25)


def small_csv(rows: int, seed: int = 1) -> bytes:
    """A little table (deterministic)."""
    lines = ["id,height_cm,weight_kg,species"]
    for i in range(rows):
        species = ["adelie", "gentoo", "chinstrap"][(i * seed) % 3]
        lines.append(f"{i},{40 + (i * 7 + seed) % 30},{3 + (i * 3 + seed) % 4}.5,{species}")
    return ("\n".join(lines) + "\n").encode()
