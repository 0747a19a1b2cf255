"""At most one ``TrainingLogged`` per job whatever the broker does: duplicate and late
deliveries, a worker killed with SIGKILL mid-job; failed jobs go to the dead letters."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import dramatiq
import orjson
import pytest

from common.chain import RevertError
from tests.workers.brokers import BOTH_BROKERS
from tests.workers.conftest import (
    BUYER,
    REPO,
    TrainingWorld,
    classification_csv,
    listdir,
    sandbox_processes,
    spec_doc,
)
from workers.config import work_root
from workers.training.ledger import JobStatus

SLOW_SPEC = spec_doc(epochs=20, batch_size=8)  # the kill comes during the torch import


def _training_message(world: TrainingWorld, job_id: int) -> dramatiq.Message[Any]:
    kwargs = {
        "job_id": str(job_id),
        "dataset_id": "1",
        "spec_cid": "x",
        "requester": "0x0",
        "chain_id": 31337,
        "tx_hash": "0x00",
    }
    return dramatiq.Message(
        queue_name=world.space.queue(31337),
        actor_name="run_training",
        args=(),
        kwargs=kwargs,
        options={},
        message_id=str(uuid.uuid4()),
    )


def test_duplicate_and_late_deliveries_log_once(training_world: TrainingWorld) -> None:
    world = training_world
    dataset_id, _ = world.list_dataset(classification_csv())
    world.buy(dataset_id)
    job_id = world.request(dataset_id, world.put_spec(spec_doc()))
    broker = world.broker()
    # Given the same job delivered twice at once to a worker with two threads
    broker.enqueue(_training_message(world, job_id))
    broker.enqueue(_training_message(world, job_id))
    world.start_worker(broker, threads=2)
    world.wait_for(lambda: world.job_status(job_id) == JobStatus.LOGGED)
    broker.join(world.space.queue(), timeout=90_000)
    # When it is delivered once more after it was logged
    broker.enqueue(_training_message(world, job_id))
    broker.join(world.space.queue(), timeout=30_000)
    # Then the chain holds exactly one TrainingLogged, and no message failed
    assert len(world.logged_events(job_id)) == 1
    assert world.space.dead_letters() == 0


def test_the_contract_refusing_a_second_log_counts_as_done(training_world: TrainingWorld) -> None:
    world = training_world
    dataset_id, _ = world.list_dataset(classification_csv())
    world.buy(dataset_id)
    job_id = world.request(dataset_id, world.put_spec(spec_doc()))
    ledger = world.services().training.ledger
    assert ledger.log_result(job_id, "bafy-model", b"\1" * 32, "bafy-card", b"\2" * 32)
    # Given a stale read that still sees the job open, the send reverts with JobNotOpen
    stale = dataclasses.replace(ledger.job(job_id), status=JobStatus.REQUESTED)
    ledger.job = lambda job_id: stale  # type: ignore[method-assign]
    assert ledger.log_result(job_id, "bafy-other", b"\3" * 32, "bafy-card", b"\4" * 32) is None
    assert len(world.logged_events(job_id)) == 1


def _worker_process(world: TrainingWorld, tmp: Path) -> subprocess.Popen[bytes]:
    path = tmp / "settings.json"
    path.write_bytes(orjson.dumps(world.fields))
    log = (tmp / "worker.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.workers.worker_proc", str(path)],
        cwd=REPO,
        stdout=log,
        stderr=log,
    )


def _ready_job_dirs(work_root: Path) -> list[str]:
    return [d for d in listdir(work_root) if (work_root / d / "in" / "ready").exists()]


@BOTH_BROKERS
def test_a_worker_killed_mid_job_is_replaced_and_logs_once(
    training_world: TrainingWorld, tmp_path: Path
) -> None:
    world = training_world
    dataset_id, _ = world.list_dataset(classification_csv(rows=600))
    world.buy(dataset_id)
    job_id = world.request(dataset_id, world.put_spec(SLOW_SPEC))
    broker = world.broker()
    broker.enqueue(_training_message(world, job_id))
    # Given a worker process that took the message and is training in its sandbox
    proc = _worker_process(world, tmp_path)
    jobs = work_root(world.settings)
    try:
        world.wait_for(lambda: bool(_ready_job_dirs(jobs)), 60)
        # When it is killed with SIGKILL mid-job
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert world.job_status(job_id) == JobStatus.REQUESTED
    # Then its sandbox dies with it (bwrap's --die-with-parent takes the PID namespace down)
    (killed_dir,) = _ready_job_dirs(jobs)
    if os.geteuid() == 0:
        world.wait_for(lambda: sandbox_processes(world.settings.sandbox_uid) == [], 10)
    assert not (jobs / killed_dir / "out" / "run.json").exists()
    # And a new worker gets the message back (Redis: once the dead one's heartbeat expires)
    world.start_worker(world.space.recovering_broker())
    world.wait_for(lambda: world.job_status(job_id) == JobStatus.LOGGED, 120)
    assert len(world.logged_events(job_id)) == 1
    assert (tmp_path / "worker.log").exists()


def test_failed_jobs_are_dead_lettered_and_stay_refundable(training_world: TrainingWorld) -> None:
    world = training_world
    dataset_id, _ = world.list_dataset(classification_csv())
    world.buy(dataset_id)
    broker = world.broker()
    # Given a spec naming a column the dataset lacks
    bad_spec = world.request(dataset_id, world.put_spec(spec_doc(features=["x1", "missing"])))
    worker = world.start_worker(broker)
    broker.enqueue(_training_message(world, bad_spec))
    # Then the job fails inside the sandbox and its message is dead-lettered, not retried
    world.wait_for(lambda: world.space.dead_letters() == 1, 60)
    worker.stop()
    # Given a job that outlives its sandbox's wall clock
    world.configure(sandbox_wall_seconds=0.5)
    too_slow = world.request(dataset_id, world.put_spec(spec_doc()))
    broker = world.broker()
    world.start_worker(broker)
    broker.enqueue(_training_message(world, too_slow))
    world.wait_for(lambda: world.space.dead_letters() == 2, 60)
    # Then neither job is logged: both stay open, so their escrow is refundable after the
    # deadline (and not before)
    assert world.logged_events(bad_spec) == [] and world.logged_events(too_slow) == []
    assert world.job_status(bad_spec) == world.job_status(too_slow) == JobStatus.REQUESTED
    training = world.platform.client.contract("TrainingLog")
    with pytest.raises(RevertError) as refused:
        world.platform.account(BUYER).send(training.functions.refund(too_slow))
    assert refused.value.error == "DeadlineNotReached"
