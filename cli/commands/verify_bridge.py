"""`datacoin verify bridge`: the bridge's supply invariant, from the read models and from
both chains, at each chain's indexed head.

What must hold (amounts in DATACOIN wei):

- on chain: the home vault's ``totalLocked`` equals the remote token's ``totalSupply`` plus
  every transfer in flight (a lock not minted yet is locked but not minted; a burn not
  released yet is burned but still locked), and the vault holds at least ``totalLocked``;
- the read models agree with the chains: locks - releases = ``totalLocked``, mints - burns
  = ``totalSupply``;
- no delivery whose send is gone from the canonical source chain (a reorg deeper than the
  finality depth after the relayers acted: the loud alert), and none twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from web3 import Web3

from api.bridge_queries import ChainTotals, bridge_totals
from common.chain import ChainClient, connect
from common.chains import DeployedChain, Deployments
from common.db import libpq_url, require_database
from common.errors import ConfigurationError
from common.settings import Settings

WAD = 10**18


@dataclass(kw_only=True)
class BridgeReport:
    """What was compared, and every mismatch found."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return not self.problems

    def expect(self, what: str, left: int, right: int) -> None:
        """Check `left == right`, recording `what` either way."""
        self.checked.append(f"{what}: {left / WAD:,.6f}")
        if left != right:
            self.problems.append(f"{what}: {left} != {right} (difference {left - right})")


async def _read(settings: Settings) -> tuple[dict[int, ChainTotals], dict[int, int], int]:
    """The read models' totals, each chain's indexed head, and messages delivered twice."""
    url = libpq_url(settings.database_url)
    async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
        totals = await bridge_totals(pool, settings)
        async with pool.connection() as conn:
            cursors = await conn.execute("SELECT chain_id, block_number FROM cursors")
            heads = {int(chain): int(block) for chain, block in await cursors.fetchall()}
            twice = await conn.execute(
                f'SELECT count(*) FROM (SELECT message_id FROM "{settings.read_schema}"'
                ".bridge_deliveries GROUP BY message_id HAVING count(*) > 1) t"
            )
            (duplicates,) = await twice.fetchone() or (0,)
    return totals, heads, int(duplicates)


def _side(chains: list[DeployedChain], role: str) -> DeployedChain:
    found = [c for c in chains if c.deployment.bridge and c.deployment.bridge.role == role]
    if len(found) != 1:
        raise ConfigurationError(f"expected one {role} side of the bridge, found {len(found)}")
    return found[0]


def verify_bridge(settings: Settings) -> BridgeReport:
    """Compare the bridge's read models with both chains at their indexed heads."""
    require_database(settings.database_url)
    chains = Deployments(settings).chains()
    home, remote = _side(chains, "home"), _side(chains, "remote")
    totals, heads, duplicates = asyncio.run(_read(settings))
    report = BridgeReport()
    at_home, at_remote = heads.get(home.chain_id), heads.get(remote.chain_id)
    if at_home is None or at_remote is None:
        report.problems.append("a chain of the bridge is not indexed yet")
        return report
    mine_home = totals.get(home.chain_id, ChainTotals(chain_id=home.chain_id))
    mine_remote = totals.get(remote.chain_id, ChainTotals(chain_id=remote.chain_id))
    locked, held = _vault(home, at_home)
    supply = _supply(remote, at_remote)
    in_flight = mine_home.in_flight.amount + mine_remote.in_flight.amount
    report.expect(
        "home: vault totalLocked = remote totalSupply + in flight", locked, supply + in_flight
    )
    if held < locked:
        report.problems.append(f"the vault holds {held}, less than totalLocked {locked}")
    report.expect(
        "read models: locks - releases = totalLocked",
        mine_home.locked.amount - mine_home.released.amount,
        locked,
    )
    report.expect(
        "read models: mints - burns = remote totalSupply",
        mine_remote.minted.amount - mine_remote.burned.amount,
        supply,
    )
    orphaned = mine_home.orphaned + mine_remote.orphaned
    if orphaned:
        report.problems.append(
            f"{orphaned} deliveries whose send is not on the canonical source chain (a reorg"
            " beyond finality after the relayers acted)"
        )
    if duplicates:
        report.problems.append(f"{duplicates} messages delivered more than once")
    return report


def _client(chain: DeployedChain) -> ChainClient:
    return ChainClient(connect(chain.endpoint.rpc_url), chain.deployment)


def _vault(home: DeployedChain, block: int) -> tuple[int, int]:
    """The vault's totalLocked and its DATACOIN balance at `block`."""
    client = _client(home)
    vault = client.contract("BridgeVault")
    locked: Any = vault.functions.totalLocked().call(block_identifier=block)
    address = Web3.to_checksum_address(vault.address)
    held: Any = (
        client.contract("DataCoin").functions.balanceOf(address).call(block_identifier=block)
    )
    return int(locked), int(held)


def _supply(remote: DeployedChain, block: int) -> int:
    supply: Any = (
        _client(remote).contract("DataCoin").functions.totalSupply().call(block_identifier=block)
    )
    return int(supply)


def run_verify_bridge(settings: Settings, console: Console) -> bool:
    """Print the bridge's report; True when every check held."""
    report = verify_bridge(settings)
    for line in report.checked:
        console.print(f"  {line}")
    mark = "[green]ok[/green]" if report.ok else f"[red]{len(report.problems)} problem(s)[/red]"
    console.print(f"bridge: {mark}")
    for problem in report.problems:
        console.print(f"  - {problem}")
    return report.ok
