"""End to end: list -> purchase -> requestTraining on anvil -> indexer -> projections ->
outbox -> Dramatiq worker (real Redis) -> sandboxed training -> TrainingLogged on chain ->
read model; the stored (sealed) model opens to the logged hash, reproduces the logged
metrics, and an audit matches."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from rich.console import Console

from cli.commands.audit import run_audit_training
from storage.envelope import MAGIC, decrypt
from storage.open import open_blobs, open_keyring
from tests.workers.conftest import TrainingWorld, classification_csv, spec_doc
from workers.resolver import Resolver
from workers.training.artifact import load_model
from workers.training.canonical import canonical_json
from workers.training.data import read_table, to_tensors
from workers.training.fit import validation_metrics
from workers.training.spec import TrainingSpec
from workers.training.stored import open_model


def _read_model_row(db_url: str, job_id: int) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT status, model_cid, model_hash, metrics_cid, metrics_hash"
            " FROM readmodels.training_jobs WHERE job_id = %s",
            (job_id,),
        )
        row = cur.fetchone()
        assert row is not None
        names = [d.name for d in cur.description or []]
        return dict(zip(names, row, strict=True))


def test_purchase_and_training_request_flow_to_a_logged_reproducible_model(
    training_world: TrainingWorld,
) -> None:
    world = training_world
    data = classification_csv()
    # Given a listed, encrypted dataset, a purchase, and a training request by the buyer
    dataset_id, doc = world.list_dataset(data)
    world.buy(dataset_id)
    spec = spec_doc()
    job_id = world.request(dataset_id, world.put_spec(spec))
    # When the platform indexes, projects and dispatches the final events
    world.sync()
    broker = world.broker()
    assert world.dispatch(broker) == 1  # run_training (a purchase owes no side effect)
    # And a Dramatiq worker consumes them
    world.start_worker(broker, threads=2)
    world.wait_for(lambda: world.job_status(job_id) == 2)
    # Then exactly one TrainingLogged is on chain, from the worker
    (event,) = world.logged_events(job_id)
    assert event["args"]["worker"] == world.worker.address
    # When the log is indexed and projected, the read model shows the model and metrics
    world.sync()
    row = _read_model_row(world.db_url, job_id)
    assert row["status"] == "logged" and row["model_cid"] == event["args"]["modelCid"]
    blobs = open_blobs(world.settings)
    Resolver(world.db_url, blobs).resolve_once()
    with psycopg.connect(world.db_url) as conn:
        card_row = conn.execute(
            "SELECT document FROM model_cards WHERE cid = %s", (row["metrics_cid"],)
        ).fetchone()
    assert card_row is not None
    card = card_row[0]
    metrics = card["metrics"]
    assert metrics["accuracy"] > 0.8 and metrics["validation_rows"] == 60
    assert card["dataset"]["content_cid"] == doc.content_cid and card["seed"] == spec["seed"]
    assert hashlib.sha256(canonical_json(metrics)).digest() == bytes(row["metrics_hash"])
    # And the model is stored sealed (it belongs to the requester): the stored bytes are an
    # envelope, not the model, and they open to the plaintext the chain's modelHash names
    keyring = open_keyring(world.settings)
    sealed = b"".join(blobs.get(str(row["model_cid"])))
    assert sealed.startswith(MAGIC) and hashlib.sha256(sealed).digest() != row["model_hash"]
    model_bytes = open_model(blobs, keyring, str(row["model_cid"]), bytes(row["model_hash"]))
    assert card["model"]["encrypted"] is True
    assert card["model"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    # And the model file loads and reproduces the logged metrics exactly
    plain = b"".join(decrypt(blobs.get(doc.content_cid), keyring))
    assert plain == data
    path = world.settings.data_dir / "check.csv"
    path.write_bytes(plain)
    parsed = TrainingSpec.model_validate(spec)
    tensors = to_tensors(read_table(path, "csv", [*parsed.features, parsed.target]), parsed)
    reproduced = validation_metrics(load_model(model_bytes), tensors, parsed)
    assert canonical_json(reproduced) == canonical_json(metrics)
    # And an audit re-runs the job from its on-chain record and gets the same hashes
    assert run_audit_training(world.settings, job_id, 31337, Console(file=None, quiet=True))
