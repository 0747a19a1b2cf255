"""`datacoin audit training JOB_ID`: re-run a logged training and compare its hashes (and
open the sealed stored model to check it is the logged one)."""

from __future__ import annotations

from rich.console import Console

from common.errors import ConfigurationError
from common.settings import Settings
from workers.services import build_training
from workers.training.audit import AuditReport, audit_job


def _mark(ok: bool) -> str:
    return "[green]match[/green]" if ok else "[red]MISMATCH[/red]"


def print_report(console: Console, report: AuditReport) -> None:
    """The audit as a few lines."""
    console.print(f"job {report.job_id} on chain {report.chain_id}: model {report.model_cid}")
    console.print(
        f"  model hash   {_mark(report.model_matches)}  logged {report.logged_model_hash}"
        f"\n                      re-run {report.model_hash}"
    )
    console.print(
        f"  metrics hash {_mark(report.metrics_match)}  logged "
        f"{report.logged_metrics_hash}\n                      re-run "
        f"{report.metrics_hash}"
    )
    console.print(
        f"  stored model {_mark(report.stored_model_matches)}  (decrypted from {report.model_cid})"
    )
    if report.logged_code_version not in (None, report.code_version):
        console.print(
            f"  [yellow]code differs[/yellow]: logged {report.logged_code_version},"
            f" here {report.code_version}"
        )
    if report.logged_device not in (None, report.device):
        console.print(
            f"  [yellow]device differs[/yellow]: logged {report.logged_device}, "
            f"here {report.device} (bytes can differ across devices)"
        )


def run_audit_training(
    settings: Settings, job_id: int, chain_id: int | None = None, console: Console | None = None
) -> bool:
    """Re-run `job_id` from its on-chain record; print the report; True when it matches.

    `chain_id`, when given, must be the chain of the configured manifest.
    """
    out = console or Console(stderr=True)
    service = build_training(settings, signer=False)
    if chain_id is not None and chain_id != service.ledger.chain_id:
        raise ConfigurationError(
            f"the manifest is for chain {service.ledger.chain_id}, not {chain_id}: "
            "point DATACOIN_MANIFEST_PATH and DATACOIN_RPC_URL at that chain"
        )
    try:
        report = audit_job(service, job_id)
    finally:
        service.close()
    print_report(out, report)
    return report.ok
