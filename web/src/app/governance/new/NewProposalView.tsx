"use client";
// /governance/new/: a proposal built from the parameters the Timelock controls (fee,
// treasury, training workers, minimum worker stake, the Governor's own settings) and a
// description; its actions are previewed as sentences before anything is signed, then
// one propose(targets, values, calldatas, description). Wallet code loads on demand.
import Link from "next/link";
import { useState } from "react";
import { readable, useDeployment } from "@/lib/deployment";
import { ChainBadge } from "@/components/ChainBadge";
import { TxLine } from "@/components/TxLine";
import { ACTION_KINDS, planAction, proposalHref, useLiveGovernance, type ActionDraft, type ActionKind, type Planned } from "@/lib/governance";
import type { TxUpdate } from "@/wallet/engine";
import { loadEngine, useWallet } from "@/wallet/store";
import { useGovernanceInfo } from "../shared";
import "../governance.css";

const loadGovernance = () => import("@/wallet/governance");
const KINDS = Object.keys(ACTION_KINDS) as ActionKind[];
const MAX_ACTIONS = 10;

type Row = ActionDraft & { key: number };

export function NewProposalView() {
  const { data: deployment } = useDeployment();
  const wallet = useWallet();
  const live = useLiveGovernance();
  const info = useGovernanceInfo(live, deployment?.chain_id);
  const [rows, setRows] = useState<Row[]>([{ key: 0, kind: "fee", value: "" }]);
  const [nextKey, setNextKey] = useState(1);
  const [description, setDescription] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const connected = wallet.status === "connected" && wallet.address !== undefined;
  const usable = connected && deployment !== undefined;
  const governor = info.data ?? undefined;

  const planned: Planned[] = rows.map((r) => planAction(r, governor));
  const touched = rows.map((r) => r.value.trim() !== "");
  const update = (key: number, patch: Partial<ActionDraft>) => setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!deployment) return;
    const bad = planned.findIndex((p) => !p.ok);
    if (bad >= 0) {
      const p = planned[bad] as { ok: false; message: string };
      setFormError(rows.length > 1 ? `Action ${bad + 1}: ${p.message}` : p.message);
      return;
    }
    const text = description.trim();
    if (!text) {
      setFormError("Describe the proposal: its first line is its title.");
      return;
    }
    setFormError(null);
    setTxError(null);
    setCreated(null);
    setBusy(true);
    const [engine, gov] = await Promise.all([loadEngine(deployment), loadGovernance()]);
    try {
      // The checks read the chain: through the wallet when it names no RPC URL.
      if (!readable(deployment, wallet.chainId)) await engine.switchNetwork();
      // Refused here, before the wallet is asked for anything.
      const refusal = await gov.proposeRefusal(engine);
      if (refusal) {
        setFormError(refusal);
        return;
      }
      setTx({ status: "signing" });
      const calls = gov.encodeCalls(
        deployment,
        planned.flatMap((p) => (p.ok ? [p.call] : [])),
      );
      const { proposalId } = await gov.propose(engine, calls, text, setTx);
      setCreated(proposalId);
    } catch (err) {
      const failure = gov.describeGovernance(engine, err, "propose");
      setTx((t) => ({ ...t, status: failure.status }));
      setTxError(failure.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="gov">
      <p>
        <Link href="/governance/">← Governance</Link>
      </p>
      <h1>New proposal {deployment && <ChainBadge chainId={deployment.chain_id} />}</h1>
      <p className="muted">
        A proposal asks the Timelock to change what it controls. Stakers vote on it after the voting delay; once it passes and is queued,
        the Timelock runs its actions after its delay. Proposing takes at least the proposal threshold of votes.
      </p>
      {info.data === null && <p className="error">This deployment has no Governor.</p>}
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate aria-describedby={formError ? "propose-error" : undefined}>
        <h2>Actions</h2>
        {rows.map((r, i) => {
          const p = planned[i]!;
          const kindId = `propose-kind-${r.key}`;
          const valueId = `propose-value-${r.key}`;
          const errorId = `propose-value-error-${r.key}`;
          const showError = touched[i] && !p.ok;
          return (
            <div key={r.key} className="action-row" data-testid="propose-action">
              <label htmlFor={kindId}>
                Action {i + 1}
                <select id={kindId} data-testid="propose-kind" value={r.kind} onChange={(e) => update(r.key, { kind: e.target.value as ActionKind })}>
                  {KINDS.map((k) => (
                    <option key={k} value={k}>
                      {ACTION_KINDS[k].label}
                    </option>
                  ))}
                </select>
              </label>
              <label htmlFor={valueId}>
                {ACTION_KINDS[r.kind].label}
                <input
                  id={valueId}
                  data-testid="propose-value"
                  autoComplete="off"
                  spellCheck={false}
                  placeholder={ACTION_KINDS[r.kind].placeholder}
                  value={r.value}
                  aria-invalid={showError}
                  aria-describedby={showError ? errorId : undefined}
                  onChange={(e) => update(r.key, { value: e.target.value })}
                />
              </label>
              <button
                type="button"
                className="secondary"
                disabled={rows.length === 1}
                aria-label={`Remove action ${i + 1}`}
                onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}
              >
                Remove
              </button>
              {showError && (
                <p className="error" id={errorId}>
                  {(p as { message: string }).message}
                </p>
              )}
            </div>
          );
        })}
        <div className="actions">
          <button
            type="button"
            className="secondary"
            data-testid="propose-add"
            disabled={rows.length >= MAX_ACTIONS}
            onClick={() => {
              setRows((rs) => [...rs, { key: nextKey, kind: "fee", value: "" }]);
              setNextKey((k) => k + 1);
            }}
          >
            Add an action
          </button>
        </div>
        <label htmlFor="propose-description">Description (the first line is its title)</label>
        <textarea
          id="propose-description"
          data-testid="propose-description"
          value={description}
          rows={5}
          onChange={(e) => setDescription(e.target.value)}
        />
        <h2>Preview</h2>
        <p className="muted">If this proposal passes, the Timelock will:</p>
        <ol data-testid="propose-preview">
          {planned.map((p, i) => (
            <li key={rows[i]!.key} data-testid="propose-preview-item" className={p.ok ? undefined : "muted"}>
              {p.ok ? p.call.sentence : touched[i] ? `(not yet valid: ${p.message})` : "(enter a value)"}
            </li>
          ))}
        </ol>
        <div className="actions">
          <button type="submit" data-testid="propose-submit" disabled={!usable || busy || created !== null}>
            Propose
          </button>
        </div>
        {!connected && <p className="muted">Connect a wallet (the Connect button at the top) to propose.</p>}
        {formError && (
          <p className="error" role="alert" id="propose-error" data-testid="propose-error">
            {formError}
          </p>
        )}
        <TxLine label="Proposal" tx={tx} error={txError} />
        {created && deployment && (
          <p>
            <Link data-testid="proposal-link" href={proposalHref(created, deployment.chain_id)}>
              See the proposal
            </Link>
          </p>
        )}
      </form>
    </section>
  );
}
