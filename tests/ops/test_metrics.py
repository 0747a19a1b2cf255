"""The metrics endpoints as compose runs them: `datacoin index`, `project` and `work`, each
its own process, serving on the configured host and port (127.0.0.2 here: an address of
their own, so that answering there and not on 127.0.0.1 shows the host is the setting's),
with the new series: projector lag, outbox backlog and age, resolver backlog, job counts.
And every series the alerts and the Grafana dashboard read is one of those exported."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.app import ApiMetrics
from common.anvil import free_port
from tests.conftest import Platform, clone_database, drop_database
from tests.ops.compose import REPO
from tests.ops.servers import Running, answers, datacoin, running, tail, wait_for
from workers.bridge.metrics import BridgeBacklog, RelayerMetrics

HOST = "127.0.0.2"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def series(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every series name an exposition declares (a counter `x` as `x_total`, ...), with
    its samples."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            found.setdefault(family.name + suffix, [])
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


@dataclass
class Service:
    """A running `datacoin` service and where its metrics are."""

    process: Running
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/metrics"

    def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        reply = httpx.get(self.url, timeout=5)
        assert reply.status_code == 200, reply.text
        return series(reply.text)


@pytest.fixture(scope="module")
def metrics_database(migrated_template: str) -> Iterator[str]:
    """The services' database, until the module's tests are done."""
    database = clone_database(migrated_template)
    yield database
    drop_database(database)


@pytest.fixture(scope="module")
def services(
    platform: Platform,
    metrics_database: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Service]]:
    """The three services on the session's chain (they only read it) and a database of
    their own, until the module's tests are done."""
    tmp = tmp_path_factory.mktemp("metrics")
    database = metrics_database
    manifest = tmp / "deployment.json"
    platform.deployment.save(manifest)
    common = {
        "DATACOIN_DATABASE_URL": database,
        "DATACOIN_REDIS_URL": redis_url,
        "DATACOIN_RPC_URL": str(platform.client.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        "DATACOIN_MANIFEST_PATH": str(manifest),
        "DATACOIN_DATA_DIR": str(tmp / "data"),
        "DATACOIN_LOG_FORMAT": "json",
        "DATACOIN_CONFIRMATIONS": "0",
        "DATACOIN_INDEX_WORKERS": "0",
        "DATACOIN_TRAINING_SPARES": "0",
        "DATACOIN_BROKER_NAMESPACE": f"dc-metrics-{uuid.uuid4().hex[:8]}",
        "DATACOIN_METRICS_HOST": HOST,
    }
    commands = {"index": ["index"], "project": ["project"], "work": ["work", "--processes", "1"]}
    ports = {name: free_port() for name in commands}
    with contextlib.ExitStack() as stack:
        found = {}
        for name, command in commands.items():
            env = common | {"DATACOIN_METRICS_PORT": str(ports[name])}
            process = stack.enter_context(running(datacoin(*command), env, tmp / f"{name}.log"))
            found[name] = Service(process, ports[name])
        for name, service in found.items():
            url = service.url
            wait_for(f"{name}'s metrics", lambda url=url: answers(url), service.process)  # type: ignore[misc]
        yield found


def only(found: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    (sample,) = found[name]
    return sample[1]


def test_metrics_answer_on_the_configured_host_with_the_new_series(
    services: dict[str, Service],
) -> None:
    # The indexer reaches the head, the projector folds it
    index, project, work = services["index"], services["project"], services["work"]

    def caught_up() -> bool:
        found = project.scrape()
        lag = found.get("datacoin_projector_lag_positions", [])
        head = found.get("datacoin_event_store_head_position", [])
        return bool(lag and head and lag[0][1] == 0 and head[0][1] > 0)

    wait_for("the projector at the store's head", caught_up, project.process)
    found = project.scrape()
    assert only(found, "datacoin_projector_position") == only(
        found, "datacoin_event_store_head_position"
    )
    assert found["datacoin_projector_lag_positions"][0][0] == {"schema": "readmodels"}
    # nothing owed yet: the outbox and resolver backlogs are declared, and empty
    assert found["datacoin_outbox_backlog"] == [] and "datacoin_outbox_dispatched_total" in found
    assert "datacoin_outbox_oldest_age_seconds" in found
    backlog = {labels["kind"]: value for labels, value in found["datacoin_resolver_backlog"]}
    assert backlog == {"metadata": 0, "model_card": 0, "profile": 0}
    indexed = index.scrape()
    assert indexed["datacoin_indexer_cursor_block"][0][1] > 0
    assert "datacoin_indexer_head_lag_blocks" in indexed
    jobs = work.scrape()
    outcomes = {
        labels["outcome"]
        for labels, _ in jobs["datacoin_worker_messages_total"]
        if labels["actor"] == "run_training"
    }
    assert outcomes == {"succeeded", "errored", "skipped"}
    assert "datacoin_worker_message_seconds_bucket" in jobs
    # Each answers on its configured host only
    for name, service in services.items():
        assert not answers(f"http://127.0.0.1:{service.port}/metrics"), name
        assert "Traceback" not in tail(service.process), name


def test_alerts_and_dashboard_read_only_exported_series(
    services: dict[str, Service], metrics_database: str
) -> None:
    exported = set(series(generate_latest(ApiMetrics().registry).decode()))
    for service in services.values():
        exported |= set(service.scrape())
    # `datacoin relay`'s series (it needs two bridged chains to run; tests/e2e/test_bridge.py
    # scrapes a running one): its registry as the command builds it, on the services'
    # database, where the projector created the bridge's read models
    relayer = RelayerMetrics()
    relayer.registry.register(BridgeBacklog(metrics_database, "readmodels"))
    exported |= set(series(generate_latest(relayer.registry).decode()))
    alerts = yaml.safe_load((REPO / "ops" / "prometheus" / "alerts.yml").read_text())
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    dashboard = json.loads((REPO / "ops" / "grafana" / "dashboards" / "datacoin.json").read_text())
    expressions = [rule["expr"] for rule in rules] + [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    used = {name for expr in expressions for name in re.findall(r"\bdatacoin_[a-z0-9_]+", expr)}
    assert used and not used - exported, sorted(used - exported)
    # the dashboard shows what the issue asks for
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for wanted in ("indexer lag", "projector lag", "api latency", "jobs by outcome"):
        assert wanted in titles, wanted
    # and the README says what each alert means
    readme = (REPO / "README.md").read_text()
    alert_section = readme.split("### Alerts", 1)[1].split("\n## ", 1)[0]
    for rule in rules:
        assert f"**{rule['alert']}**" in alert_section, rule["alert"]
