"""The training journey through the API on a real chain, PostgreSQL and Redis: a buyer
prepares a spec (checked against the dataset's schema, nothing stored when refused), pays
with the calldata handed back, and — once the log is final — downloads the sealed model,
which nobody else can."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import install as install_problems
from storage.open import open_blobs, open_keyring
from tests.api.conftest import World
from tests.api.test_uploads import FORM, iris_csv, sign_in
from tests.api.test_uploads_hostile import snapshot
from tests.indexer.activity import fund, mine
from workers.resolver import Resolver
from workers.training.canonical import canonical_json
from workers.training.price import JOB_PRICE
from workers.training.stored import seal_model

PROVIDER, BUYER, STRANGER, WORKER = 1, 5, 3, 6
SPEC: dict[str, Any] = {
    "task": "classification",
    "target": "species",
    "features": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    "model": {"kind": "mlp", "hidden_sizes": [8]},
    "epochs": 5,
    "seed": 3,
}
MODEL = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"weights" * 500


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    """The app with errors as problem details (installed here until app.py installs them
    for every route: then this is a no-op repeat)."""
    app = create_app(world.settings)
    install_problems(app)
    with TestClient(app) as c:
        yield c


@dataclass(frozen=True)
class Listed:
    """A listed, bought dataset and the sessions of the accounts involved."""

    dataset_id: int
    provider: dict[str, str]
    buyer: dict[str, str]
    stranger: dict[str, str]


@pytest.fixture(scope="module")
def listed(client: TestClient, world: World) -> Listed:
    """The provider uploads and lists the iris table; the buyer buys it; all final."""
    provider = sign_in(client, world, PROVIDER)
    reply = client.post(
        "/uploads", data=FORM, files={"file": ("iris.csv", iris_csv())}, headers=provider
    )
    assert reply.status_code == 201, reply.text
    args = reply.json()["listing"]["args"]
    market = world.platform.client.contract("Marketplace")
    world.platform.account(PROVIDER).send(
        market.functions.listDataset(
            args["metadataCid"],
            bytes.fromhex(args["contentHash"][2:]),
            args["category"],
            int(args["price"]),
            args["accessDuration"],
        )
    )
    dataset_id = int(market.functions.datasetCount().call())
    world.platform.account(BUYER).send(market.functions.purchase(dataset_id, 2**255))
    mine(world.platform.client.w3, 3)
    world.sync()
    return Listed(
        dataset_id, provider, sign_in(client, world, BUYER), sign_in(client, world, STRANGER)
    )


@pytest.fixture
def nothing_stored(world: World) -> Iterator[None]:
    """Fails the test when anything was added to the block store or the data dir."""
    before = snapshot(world)
    yield
    assert snapshot(world) == before


def body(listed: Listed, **spec_changes: Any) -> dict[str, Any]:
    return {"dataset_id": str(listed.dataset_id), "spec": SPEC | spec_changes}


def test_the_spec_format_is_published_as_json_schema(client: TestClient) -> None:
    schema = client.get("/training-specs/schema").json()
    assert {"task", "target", "features", "epochs"} <= set(schema["properties"])
    assert schema["properties"]["epochs"]["maximum"] == 500


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "auth.required"), ({"Authorization": "Bearer nope"}, "auth.session_expired")],
)
def test_a_spec_needs_a_session(
    client: TestClient, listed: Listed, headers: dict[str, str], code: str, nothing_stored: None
) -> None:
    reply = client.post("/training-specs", json=body(listed), headers=headers)
    assert reply.status_code == 401 and reply.json()["code"] == code


def test_an_account_without_access_cannot_prepare_a_job(
    client: TestClient, listed: Listed, nothing_stored: None
) -> None:
    reply = client.post("/training-specs", json=body(listed), headers=listed.stranger)
    assert reply.status_code == 403 and reply.json()["code"] == "training_spec.no_access"


@pytest.mark.parametrize(
    ("change", "status", "code", "names"),
    [
        ({"target": "colour"}, 400, "training_spec.unknown_column", "target"),
        ({"features": ["sepal_length", "petals"]}, 400, "training_spec.unknown_column", "[1]"),
        ({"task": "regression"}, 400, "training_spec.column_type", "target"),
        (
            {"target": "petal_width", "features": ["species"]},
            400,
            "training_spec.column_type",
            "features[0]",
        ),
        ({"epochs": 10_000}, 400, "training_spec.invalid", "spec.epochs"),
        ({"learning_rate": 0}, 400, "training_spec.invalid", "spec.learning_rate"),
        ({"features": ["x"] * 300}, 400, "training_spec.invalid", "spec.features"),
        ({"target": "t" * 200}, 400, "training_spec.invalid", "spec.target"),
        ({"gpus": 8}, 400, "training_spec.invalid", "spec.gpus"),
        (
            {"model": {"kind": "mlp", "hidden_sizes": [10**6]}},
            400,
            "training_spec.invalid",
            "hidden_sizes.0",
        ),
    ],
)
def test_a_spec_that_cannot_train_is_refused_naming_its_field(
    client: TestClient,
    listed: Listed,
    change: dict[str, Any],
    status: int,
    code: str,
    names: str,
    nothing_stored: None,
) -> None:
    reply = client.post("/training-specs", json=body(listed, **change), headers=listed.buyer)
    assert reply.status_code == status, reply.text
    problem = reply.json()
    assert problem["code"] == code and names in problem["detail"], problem


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"dataset_id": "999", "spec": SPEC}, 404, "dataset.not_found"),
        ({"dataset_id": "1" * 80, "spec": SPEC}, 400, "training_spec.invalid"),
        ({"spec": SPEC}, 400, "training_spec.invalid"),
        (b"{not json", 400, "training_spec.invalid"),
        (b"[]", 400, "training_spec.invalid"),
        ({"dataset_id": "1", "spec": SPEC, "pad": "x" * 70_000}, 413, "training_spec.too_large"),
    ],
)
def test_a_bad_request_is_refused(
    client: TestClient,
    listed: Listed,
    payload: dict[str, Any] | bytes,
    status: int,
    code: str,
    nothing_stored: None,
) -> None:
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = listed.buyer | {"Content-Type": "application/json"}
    reply = client.post("/training-specs", content=content, headers=headers)
    assert reply.status_code == status and reply.json()["code"] == code, reply.text


def _log_model(world: World, job_id: int) -> str:
    """What a worker does once trained: seal the model, store a card, log both."""
    blobs, keyring = open_blobs(world.settings), open_keyring(world.settings)
    model_cid = seal_model(blobs, keyring, MODEL)
    card = canonical_json({"kind": "datacoin-model-card/1", "metrics": {"accuracy": 0.9}})
    card_cid = blobs.put([card]).cid
    platform = world.platform
    training = platform.client.contract("TrainingLog")
    worker = platform.account(WORKER)
    if not training.functions.isWorker(worker.address).call():
        staking, coin = platform.client.contract("Staking"), platform.client.contract("DataCoin")
        platform.deployer.send(training.functions.registerWorker(worker.address))
        fund(platform, [WORKER])
        worker.send(coin.functions.approve(staking.address, platform.config.min_worker_stake))
        worker.send(staking.functions.stake(platform.config.min_worker_stake))
    digest = hashlib.sha256(MODEL).digest()
    worker.send(
        training.functions.logTraining(
            job_id, model_cid, digest, card_cid, hashlib.sha256(b"{}").digest()
        )
    )
    return card_cid


def _request(
    client: TestClient, world: World, listed: Listed, seed: int
) -> tuple[int, dict[str, Any]]:
    """POST /training-specs (a new spec: stored), then the buyer sends the calldata."""
    store_before = snapshot(world).blocks
    reply = client.post("/training-specs", json=body(listed, seed=seed), headers=listed.buyer)
    assert reply.status_code == 201, reply.text
    prepared = reply.json()
    assert snapshot(world).blocks != store_before
    stored = b"".join(open_blobs(world.settings).get(prepared["spec_cid"]))
    assert orjson.loads(stored) == prepared["spec"] and stored == canonical_json(prepared["spec"])
    assert prepared["escrow"] == str(JOB_PRICE) and prepared["spec"]["batch_size"] == 32
    platform = world.platform
    training, coin = platform.client.contract("TrainingLog"), platform.client.contract("DataCoin")
    call = prepared["call"]
    assert call["to"] == training.address and prepared["token"] == coin.address
    assert call["permit_function"] == "requestTrainingWithPermit"
    function, args = training.decode_function_input(call["data"])
    assert function.fn_name == "requestTraining"
    assert args == {
        "datasetId": listed.dataset_id,
        "specCid": prepared["spec_cid"],
        "payment": JOB_PRICE,
    }
    buyer = platform.account(BUYER)
    buyer.send(coin.functions.approve(training.address, JOB_PRICE))
    buyer.send(training.functions.requestTraining(**args))
    return int(training.functions.jobCount().call()), prepared


def test_a_buyer_pays_for_a_job_and_downloads_the_sealed_model(
    client: TestClient, world: World, listed: Listed
) -> None:
    # Given a job requested with the API's calldata, final and indexed
    job_id, prepared = _request(client, world, listed, seed=1)
    mine(world.platform.client.w3, 3)
    world.sync()
    url = f"/training-jobs/{job_id}/model"
    job = client.get(f"/training-jobs/{job_id}").json()
    assert job["status"] == "requested" and job["spec"] == prepared["spec"]
    # Then no model is there before the worker logs one
    assert client.get(url, headers=listed.buyer).json()["code"] == "model.not_logged"
    # When the worker logs a sealed model, not yet final
    card_cid = _log_model(world, job_id)
    world.sync()
    reply = client.get(url, headers=listed.buyer)
    assert reply.status_code == 425 and reply.json()["code"] == "model.not_final"
    # Then once final the requester downloads exactly the trained bytes, checked on chain
    mine(world.platform.client.w3, 3)
    world.sync()
    reply = client.get(url, headers=listed.buyer)
    assert reply.status_code == 200 and reply.content == MODEL
    assert reply.headers["x-model-sha256"] == hashlib.sha256(MODEL).hexdigest()
    # And the store holds the model sealed, never in the clear
    sealed = b"".join(
        open_blobs(world.settings).get(client.get(f"/training-jobs/{job_id}").json()["model_cid"])
    )
    assert MODEL not in sealed
    # And nobody else gets it: not signed in, the provider, a stranger
    assert client.get(url).status_code == 401
    for other in (listed.provider, listed.stranger):
        reply = client.get(url, headers=other)
        assert reply.status_code == 403 and reply.json()["code"] == "model.not_requester"
    assert client.get("/training-jobs/99999/model", headers=listed.buyer).status_code == 404
    # While the model card stays public
    Resolver(world.db_url, open_blobs(world.settings)).resolve_once()
    job = client.get(f"/training-jobs/{job_id}").json()
    assert job["finalized"] and job["metrics_cid"] == card_cid
    assert job["metrics"] == {"accuracy": 0.9} and job["model_card"]["metrics"] == job["metrics"]


def test_jobs_are_listed_by_requester_dataset_and_status(
    client: TestClient, world: World, listed: Listed
) -> None:
    first, _ = _request(client, world, listed, seed=2)
    second, _ = _request(client, world, listed, seed=3)
    mine(world.platform.client.w3, 3)
    world.sync()
    buyer = world.platform.account(BUYER).address
    query = {"requester": buyer, "dataset": str(listed.dataset_id), "limit": 1}
    page = client.get("/training-jobs", params=query).json()
    assert [j["job_id"] for j in page["items"]] == [str(second)] and page["next_cursor"]
    page = client.get("/training-jobs", params=query | {"cursor": page["next_cursor"]}).json()
    assert [j["job_id"] for j in page["items"]] == [str(first)]
    requested = client.get("/training-jobs", params={"status": "requested"}).json()["items"]
    assert {j["job_id"] for j in requested} >= {str(first), str(second)}
    assert all(j["status"] == "requested" for j in requested)
    stranger = world.platform.account(STRANGER).address
    assert client.get("/training-jobs", params={"requester": stranger}).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert client.get("/training-jobs", params={"cursor": "junk"}).status_code == 400
    assert client.get("/training-jobs", params={"status": "lost"}).status_code == 422
