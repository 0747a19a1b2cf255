"""Job metrics of a worker process: a Dramatiq middleware counting what happens to each
message, by actor. Dramatiq's own ``Prometheus`` middleware serves from a process forked by
the ``dramatiq`` command (which ``datacoin work`` does not use) through a multiprocess
directory; this one keeps an own registry that ``datacoin work`` serves on the metrics port.

Outcomes: ``succeeded`` (the actor returned), ``errored`` (it raised: Dramatiq's Retries
middleware then retries it, counted in ``datacoin_worker_message_retries``, or gives up
and dead-letters it, counted in ``datacoin_worker_message_dead_letters``), ``skipped``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
from dramatiq.broker import Broker, MessageProxy
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("succeeded", "errored", "skipped")
#: A training job takes seconds to the sandbox's wall-clock limit (15 minutes by default).
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800)


class WorkerMetrics(dramatiq.Middleware):
    """Counts, durations and in-flight messages per actor (own registry unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self.messages = Counter(
            "datacoin_worker_messages",
            "Messages processed, by actor and outcome",
            ["actor", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "datacoin_worker_message_retries",
            "Messages sent back to the queue to be retried",
            ["actor"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "datacoin_worker_message_dead_letters",
            "Messages given up on (the dead-letter queue)",
            ["actor"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "datacoin_worker_messages_in_progress",
            "Messages being processed now",
            ["actor"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "datacoin_worker_message_seconds",
            "Seconds an actor took",
            ["actor"],
            registry=self.registry,
            buckets=DURATION_BUCKETS,
        )

    def declare(self, actors: list[str]) -> None:
        """Create every series of `actors` at zero, so rates and alerts see them before
        the first message (a counter born at 1 hides its first increase)."""
        for actor in actors:
            for outcome in OUTCOMES:
                self.messages.labels(actor, outcome)
            self.retries.labels(actor)
            self.dead_letters.labels(actor)
            self.in_progress.labels(actor)
            self.duration.labels(actor)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self.in_progress.labels(message.actor_name).inc()
        with self._lock:
            self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        self._finish(message, "succeeded" if exception is None else "errored")

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._finish(message, "skipped")

    def _finish(self, message: MessageProxy, outcome: str) -> None:
        actor = message.actor_name
        with self._lock:
            started = self._started.pop(message.message_id, None)
        if started is not None:
            self.in_progress.labels(actor).dec()
            self.duration.labels(actor).observe(time.perf_counter() - started)
        self.messages.labels(actor, outcome).inc()

    def after_enqueue(
        self, broker: Broker, message: dramatiq.Message[Any], delay: int | None
    ) -> None:
        # Dramatiq's Retries middleware sends a failed message back with the `retries`
        # option and a backoff delay; the same message is enqueued again, undelayed, when
        # its delay is over (from the delay queue): that second time is not a retry.
        if "retries" in message.options and delay:
            self.retries.labels(message.actor_name).inc()

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        self.dead_letters.labels(message.actor_name).inc()
