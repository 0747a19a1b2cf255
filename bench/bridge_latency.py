"""Benchmark: how long the bridge takes beyond the finality wait.

Two anvils (chains 31337 and 31338) bridged, indexed into one scratch database by the stack
`datacoin up` runs (an indexer per chain, the projector, the relayer with the dev relayer
set: two of three signatures). Each of ``--transfers`` rounds locks DATACOIN on the home
chain, then mines the confirmation depth at once (the lock is final from that block on),
and times from that block's mining to the mint's receipt on the second chain: indexer poll
→ event store → projector → relayer pass → two EIP-712 signatures → ``deliver`` mined.
Medians and p90, at the stack's default polling (0.5 s) and at 0.1 s.

No peer is named for this number: a relayer that watches blocks directly (no event store)
would skip the projector's hop and not much else; both wait for the same finality.
Run: ``.venv/bin/python -m bench.bridge_latency --transfers 20``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from web3.logs import DISCARD

from bench.scratch import scratch_database
from cli.commands.stack import Stack
from common.anvil import free_port, start_anvil
from common.bridge import DEV_THRESHOLD, dev_relayers
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import deploy_bridged_pair
from common.logs import configure_logging
from common.settings import ChainEndpoint, Settings

WAD = 10**18
CONFIRMATIONS = 2
REMOTE = 31338


def measure(transfers: int, poll: float) -> list[float]:
    """Seconds from the lock's finalizing block to the mint's receipt, per transfer."""
    with (
        start_anvil() as home_node,
        start_anvil(extra_args=["--chain-id", str(REMOTE)]) as remote_node,
        scratch_database("bench_bridge") as db_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        pair = deploy_bridged_pair(
            Transactor(connect(home_node.url), dev_account(0)),
            Transactor(connect(remote_node.url), dev_account(0)),
            relayers=tuple(a.address for a in dev_relayers()),
            threshold=DEV_THRESHOLD,
        )
        home_manifest, remote_manifest = Path(tmp) / "home.json", Path(tmp) / "remote.json"
        pair.home.save(home_manifest)
        pair.remote.save(remote_manifest)
        settings = Settings(
            rpc_url=home_node.url,
            database_url=db_url,
            data_dir=Path(tmp),
            manifest_path=home_manifest,
            remote_chains=[ChainEndpoint(rpc_url=remote_node.url, manifest_path=remote_manifest)],
            api_port=free_port(),
            confirmations=CONFIRMATIONS,
            poll_interval=poll,
            bridge_relayer_interval=poll,
            index_workers=0,
        )
        home = ChainClient(connect(home_node.url), pair.home)
        remote = ChainClient(connect(remote_node.url), pair.remote)
        stack = Stack(settings, pair.home)
        stack.start()
        try:
            return [_round(home, remote) for _ in range(transfers)]
        finally:
            stack.stop()


def _round(home: ChainClient, remote: ChainClient) -> float:
    sender = Transactor(home.w3, dev_account(0))
    vault, gateway = home.contract("BridgeVault"), remote.contract("BridgeGateway")
    sender.send(home.contract("DataCoin").functions.approve(vault.address, WAD))
    receipt = sender.send(vault.functions.lock(sender.address, WAD, REMOTE))
    (locked,) = vault.events.BridgeLocked().process_receipt(receipt, errors=DISCARD)
    message_id = locked["args"]["messageId"]
    home.w3.provider.make_request("anvil_mine", [hex(CONFIRMATIONS + 1)])  # type: ignore[arg-type]
    final_at = time.monotonic()
    while not gateway.functions.processed(message_id).call():  # true once the mint is mined
        time.sleep(0.005)
    return time.monotonic() - final_at


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bridge_latency")
    parser.add_argument("--transfers", type=int, default=20)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    for poll in (0.5, 0.1):
        seconds = sorted(measure(args.transfers, poll))
        p90 = seconds[int(0.9 * (len(seconds) - 1))]
        print(
            f"poll {poll:.1f} s: lock final -> mint mined, {len(seconds)} transfers:"
            f" median {statistics.median(seconds) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms,"
            f" max {seconds[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
