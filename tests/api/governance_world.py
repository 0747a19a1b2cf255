"""A governed chain, indexed and projected, with an API over it (tests/api/test_governance*)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from common.anvil import start_anvil
from common.chain import Transactor
from common.governance import Governance, ProposalState
from common.settings import Settings
from tests.api.conftest import World
from tests.conftest import GOVERNED, clone_database, deploy_fresh, drop_database, service_missing
from tests.contracts.helpers import WAD, approve, coin, fund

#: Stakes of accounts 1..3: quorum (4% of 12,000) is 480 DATACOIN of votes.
STAKES = {1: 6_000 * WAD, 2: 5_000 * WAD, 3: 1_000 * WAD}


@dataclass(frozen=True)
class States:
    """A proposal's state as the API says and as the Governor says, at one block."""

    api: str
    chain: str


@dataclass
class GovernedWorld:
    """A governed platform with stakers, its database and an API client."""

    world: World
    client: TestClient
    governance: Governance

    def staker(self, i: int) -> Transactor:
        return self.world.platform.account(i)

    def synced_state(self, proposal_id: int) -> States:
        """The API's state and the Governor's at the same block, after indexing and
        projecting to the chain's head."""
        w3 = self.world.platform.client.w3
        head = w3.eth.block_number
        self.world.sync()
        answer = self.client.get(f"/proposals/{proposal_id}")
        assert answer.status_code == 200, answer.text
        on_chain = self.governance.governor.functions.state(proposal_id).call(block_identifier=head)
        return States(api=answer.json()["state"], chain=ProposalState(on_chain).name.lower())


@pytest.fixture(scope="module")
def governed_world(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GovernedWorld]:
    """Three stakers on a fresh governed deployment (delay 1 block, period 20 blocks,
    Timelock 60 s), indexed and projected."""
    try:
        node = start_anvil()
    except Exception as exc:
        service_missing("anvil", exc)
        raise
    platform = deploy_fresh(node, GOVERNED)
    db_url = clone_database(migrated_template)
    staking = platform.client.contract("Staking")
    for i, amount in STAKES.items():
        staker = platform.account(i)
        fund(platform, staker.address, amount)
        approve(staker, coin(platform), staking.address, amount)
        staker.send(staking.functions.stake(amount))
    data_dir: Path = tmp_path_factory.mktemp("gov-api")
    manifest = data_dir / "deployment.json"
    platform.deployment.save(manifest)
    settings = Settings(
        database_url=db_url,
        redis_url=redis_url,
        data_dir=data_dir,
        manifest_path=manifest,
    )
    world = World(platform, db_url, settings, node)
    world.sync()
    with TestClient(create_app(settings, dapp_dir=None)) as client:
        yield GovernedWorld(world=world, client=client, governance=Governance(platform.client))
    node.stop()
    drop_database(db_url)
