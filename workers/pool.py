"""A worker pool: Dramatiq workers consuming their chain's queue, in one or more processes.

Each process installs the broker, builds its services, declares the actors on the queue
of its manifest's chain (:func:`workers.broker.chain_queue`) and runs a
``dramatiq.Worker`` with `threads` threads consuming that queue only. Many machines can
run pools against one broker: that is how training scales out. Stopping (SIGTERM/SIGINT)
lets running messages finish up to Dramatiq's shutdown timeout; a message whose worker
died unacknowledged is redelivered by the broker (Redis: after the dead worker's heartbeat
times out; RabbitMQ: as soon as its connection closes).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

import dramatiq
import structlog

from common.errors import ConfigurationError
from common.logs import configure_logging
from common.metrics import serve_metrics
from common.settings import Settings
from workers.actors import declare_actors
from workers.broker import chain_queue, settings_broker
from workers.metrics import WorkerMetrics
from workers.services import build_services
from workers.training.warmup import warm_bytecode

log = structlog.get_logger(__name__)
SHUTDOWN_MS = 30_000
CRASH_WINDOW_S = 10.0
MAX_QUICK_DEATHS = 5


def serve(
    settings: Settings,
    *,
    threads: int,
    stop: threading.Event,
    broker_options: Mapping[str, Any] | None = None,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Run one Dramatiq worker in this process until `stop` is set, consuming the queue of
    its manifest's chain; `broker_options` go to the broker (see ``make_broker``), and
    `metrics`, when given, counts its messages."""
    broker = settings_broker(settings, broker_options)
    if metrics is not None:
        broker.add_middleware(metrics)
    dramatiq.set_broker(broker)  # what Dramatiq looks up globally finds this one
    services = build_services(settings)
    queue = chain_queue(settings.broker_namespace, services.chain_id)
    declare_actors(broker, services, queue=queue)
    if metrics is not None:
        metrics.declare(sorted(broker.actors))
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=threads, worker_timeout=200)
    worker.start()
    log.info(
        "worker.started",
        chain_id=services.chain_id,
        queue=queue,
        threads=threads,
        sandbox=settings.sandbox_backend,
        namespace=settings.broker_namespace,
    )
    try:
        stop.wait()
    finally:
        worker.stop(timeout=SHUTDOWN_MS)
        broker.close()
        services.close()
        log.info("worker.stopped")


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def _serve_measured(settings: Settings, threads: int, stop: threading.Event, slot: int) -> None:
    """`serve` with its job metrics on ``metrics_port + slot`` (when a port is set)."""
    metrics = WorkerMetrics()
    server = serve_metrics(settings, metrics.registry, port_offset=slot)
    try:
        serve(settings, threads=threads, stop=stop, metrics=metrics)
    finally:
        if server is not None:
            server.stop()


def _child(settings: Settings, threads: int, slot: int) -> None:
    configure_logging(settings.log_format, settings.log_level)
    stop = threading.Event()
    _stop_on_signals(stop)
    _serve_measured(settings, threads, stop, slot)


def run_pool(settings: Settings, *, processes: int, threads: int) -> None:
    """Serve in this process (``processes == 1``) or supervise that many child processes,
    restarting any that dies, until SIGTERM or SIGINT. Process `i` (from 0) serves its
    metrics on ``metrics_port + i``; a restarted one takes the slot of the one it replaces."""
    warm_bytecode()
    stop = threading.Event()
    _stop_on_signals(stop)
    if processes <= 1:
        _serve_measured(settings, threads, stop, 0)
        return
    context = multiprocessing.get_context("spawn")
    children: dict[multiprocessing.process.BaseProcess, tuple[float, int]] = {}
    quick_deaths = 0
    try:
        while not stop.is_set():
            for child, (started, _) in list(children.items()):
                if not child.is_alive():
                    del children[child]
                    quick = time.monotonic() - started < CRASH_WINDOW_S
                    quick_deaths = quick_deaths + 1 if quick else 0
                    log.error("worker.process.died", pid=child.pid, exitcode=child.exitcode)
            if quick_deaths >= MAX_QUICK_DEATHS:
                raise ConfigurationError("worker processes keep dying at start: see the log")
            taken = {slot for _, slot in children.values()}
            for slot in sorted(set(range(processes)) - taken):
                child = context.Process(target=_child, args=(settings, threads, slot))
                child.start()
                children[child] = (time.monotonic(), slot)
                log.info("worker.process.started", pid=child.pid, slot=slot)
            stop.wait(1.0)
    finally:
        for child in children:
            child.terminate()  # SIGTERM: each child stops its worker gracefully
        deadline = time.monotonic() + SHUTDOWN_MS / 1000 + 5
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
