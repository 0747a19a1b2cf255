"""`datacoin` CLI entry point (typer). Settings are built here and passed down."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError
from rich.console import Console
from rich.text import Text

from common.errors import DatacoinError
from common.logs import configure_logging
from common.settings import Settings

app = typer.Typer(
    name="datacoin",
    help="Datacoin: a data marketplace whose only authority is the chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(help="Re-run what workers did and compare.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
verify_app = typer.Typer(help="Audit the event store, or the bridge.")
app.add_typer(verify_app, name="verify")
console = Console(stderr=True)


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def main(ctx: typer.Context) -> None:
    """Build settings once from DATACOIN_* variables and configure logging."""
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        # One line per problem, naming the variable: no traceback for a typo in a setting.
        console.print(Text.assemble(("error:", "red"), " invalid settings: ", str(exc)))
        sys.exit(1)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = settings


@app.command()
def deploy(
    ctx: typer.Context,
    rpc_url: Annotated[str | None, typer.Option(help="JSON-RPC URL (default: settings).")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Where to write the manifest (default: settings).")
    ] = None,
    faucet: Annotated[bool, typer.Option(help="Also deploy the dev faucet.")] = True,
    governance: Annotated[
        bool,
        typer.Option(
            help="Deploy the Timelock and Governor and hand them the admin functions"
            " (--no-governance: the deployer stays the owner)."
        ),
    ] = True,
    *,
    reuse: Annotated[
        bool,
        typer.Option(
            help="Keep the manifest's deployment when its contracts are on this chain (a"
            " deploy step that runs at every start deploys once)."
        ),
    ] = False,
) -> None:
    """Deploy all contracts and write the deployment manifest. With a remote chain
    configured (DATACOIN_REMOTE_CHAINS), deploy both chains with the bridge between them
    and write both manifests (--rpc-url and --manifest then do not apply)."""
    from cli.commands.deploy import run_deploy, run_deploy_bridged

    settings = _settings(ctx)
    if settings.remote_chains and rpc_url is None and manifest is None:
        _guard(
            lambda: run_deploy_bridged(
                settings, faucet=faucet, governance=governance, console=console, reuse=reuse
            )
        )
        return
    _guard(
        lambda: run_deploy(
            settings,
            rpc_url,
            manifest,
            faucet=faucet,
            governance=governance,
            console=console,
            reuse=reuse,
        )
    )


@app.command()
def index(
    ctx: typer.Context,
    rpc_url: Annotated[str | None, typer.Option(help="JSON-RPC URL (default: settings).")] = None,
    manifest: Annotated[Path | None, typer.Option(help="Deployment manifest.")] = None,
    to_block: Annotated[
        int | None, typer.Option(help="Stop once this block is indexed (default: follow).")
    ] = None,
) -> None:
    """Backfill the chain's platform events into the event store, then follow the head."""
    from cli.commands.index import run_index

    settings = _settings(ctx)
    _guard(lambda: run_index(settings, rpc_url, manifest, to_block, console))


@verify_app.callback(invoke_without_command=True)
def verify(
    ctx: typer.Context,
    rpc_url: Annotated[
        str | None, typer.Option(help="Also re-fetch this node's logs and compare.")
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="Deployment manifest.")] = None,
) -> None:
    """Audit the event store: recompute the hash chain (and compare with the chain).
    `datacoin verify bridge` checks the bridge instead."""
    if ctx.invoked_subcommand is not None:
        return
    from cli.commands.verify import run_verify

    settings = _settings(ctx)
    _guard_exit(lambda: run_verify(settings, rpc_url, manifest, console))


@verify_app.command("bridge")
def verify_bridge(ctx: typer.Context) -> None:
    """Check the bridge's supply invariant from the read models and from both chains."""
    from cli.commands.verify_bridge import run_verify_bridge

    settings = _settings(ctx)
    _guard_exit(lambda: run_verify_bridge(settings, console))


@app.command()
def relay(ctx: typer.Context) -> None:
    """Run a bridge relayer: sign final sends and deliver them on the other chain."""
    from cli.commands.relay import run_relay

    settings = _settings(ctx)
    _guard(lambda: run_relay(settings))


@app.command()
def project(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Apply what is there now, then exit.")] = False,
) -> None:
    """Fold the event store into the read models, woken by each indexer commit."""
    from cli.commands.project import run_project

    settings = _settings(ctx)
    _guard(lambda: run_project(settings, once, console))


@app.command()
def replay(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option(help="Keep the replay schema afterwards.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes folding projection groups [default: CPUs, max 4]."),
    ] = None,
) -> None:
    """Rebuild every read model from position 0 into a fresh schema; print state hashes."""
    from cli.commands.project import run_replay

    settings = _settings(ctx)
    _guard_exit(lambda: run_replay(settings, keep, console, workers))


@app.command("state-hash")
def state_hash_command(ctx: typer.Context) -> None:
    """Print the live read models' state hash."""
    from cli.commands.project import run_state_hash

    settings = _settings(ctx)
    _guard(lambda: run_state_hash(settings))


class ExportFormat(StrEnum):
    """Export file formats."""

    ndjson = "ndjson"
    parquet = "parquet"


@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="Output format.")
    ] = ExportFormat.ndjson,
    output: Annotated[
        Path | None, typer.Option(help="Output file (ndjson: default stdout).")
    ] = None,
) -> None:
    """Dump the event store (retractions included) for outside tools."""
    from cli.commands.export import run_export

    settings = _settings(ctx)
    _guard(lambda: run_export(settings, fmt.value, output, console))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings).")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    from cli.commands.serve import run_serve

    settings = _settings(ctx)
    _guard(lambda: run_serve(settings, host, port, workers))


@app.command()
def demo(
    ctx: typer.Context,
    keep_running: Annotated[
        bool, typer.Option(help="Stay up after the scenario, for a dApp to use.")
    ] = False,
) -> None:
    """Run the marketplace end to end on embedded defaults."""
    from cli.commands.demo import run_demo

    settings = _settings(ctx)
    _guard(lambda: run_demo(settings, keep_running, console))


@app.command()
def work(
    ctx: typer.Context,
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 2,
) -> None:
    """Run a worker pool for sandboxed training (scale by starting more processes)."""
    from cli.commands.work import run_work

    settings = _settings(ctx)
    _guard(lambda: run_work(settings, processes, threads))


@audit_app.command("training")
def audit_training(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The logged training job.")],
    chain_id: Annotated[int | None, typer.Option(help="Chain (when several are indexed).")] = None,
) -> None:
    """Re-run a logged training job and report whether its model hash matches the chain."""
    from cli.commands.audit import run_audit_training

    settings = _settings(ctx)
    _guard_exit(lambda: run_audit_training(settings, job_id, chain_id, console))


@app.command()
def up(ctx: typer.Context) -> None:
    """Run indexer, projector, API and worker against the configured services."""
    from cli.commands.demo import run_up

    settings = _settings(ctx)
    _guard(lambda: run_up(settings, console))


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create the database if needed and migrate it to `revision` (the only command that
    creates databases: the others fail on a missing one)."""
    from migrations.runner import upgrade

    settings = _settings(ctx)
    _guard(lambda: upgrade(settings.database_url, revision))
    console.print(f"[green]database at {revision}[/green]")


def _guard_exit(check: Callable[[], bool]) -> None:
    """Like _guard for a check: exit 0 when it returns True, 1 otherwise."""
    result: list[bool] = []
    _guard(lambda: result.append(check()))
    raise typer.Exit(0 if result and result[0] else 1)


def _guard(action: object) -> None:
    """Run `action`, turning our errors into a clear message and exit code 1."""
    try:
        action()  # type: ignore[operator]
    except DatacoinError as exc:
        # One line whatever the terminal's width (soft_wrap), the message taken as text:
        # it may quote a database name or a URL holding "[" (not rich markup).
        console.print(Text.assemble(("error:", "red"), " ", str(exc)), soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    app()
