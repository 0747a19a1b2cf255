"use client";
// /governance/: the Governor's parameters, the proposals (filtered by state, live), and
// the connected account's voting power with a form to delegate it. The wallet code
// (engine, ../../wallet/governance) loads on demand, never with the page.
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { getJson, query } from "@/lib/api";
import { useDeployment } from "@/lib/deployment";
import { formatDuration } from "@/app/stake/amount";
import { shortAddress } from "@/lib/format";
import {
  PROPOSAL_STATES,
  blocks,
  formatVotes,
  proposalHref,
  useLiveGovernance,
  votingWindow,
  type GovernanceInfo,
  type Page,
  type Proposal,
  type VotingPower,
} from "@/lib/governance";
import { TxLine } from "@/components/TxLine";
import type { TxUpdate } from "@/wallet/engine";
import { loadEngine, useWallet } from "@/wallet/store";
import { StateBadge, useGovernanceInfo } from "./shared";
import { ChainBadge } from "@/components/ChainBadge";
import "./governance.css";

const loadGovernance = () => import("@/wallet/governance");
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

function Parameters({ info }: { info: GovernanceInfo }) {
  return (
    <dl className="facts panel" data-testid="governance-parameters">
      <dt>Voting delay</dt>
      <dd>{blocks(info.voting_delay)} from a proposal to its snapshot</dd>
      <dt>Voting period</dt>
      <dd>{blocks(info.voting_period)}</dd>
      <dt>Proposal threshold</dt>
      <dd>{formatVotes(info.proposal_threshold)} votes (DATACOIN of active stake)</dd>
      <dt>Quorum</dt>
      <dd>
        {(info.quorum_numerator * 100) / info.quorum_denominator}% of the active stake at the snapshot (for + abstain)
      </dd>
      <dt>Timelock delay</dt>
      <dd>{info.timelock_delay === null ? "…" : `${formatDuration(info.timelock_delay, { compact: true })} between queuing and execution`}</dd>
      <dt>Governor</dt>
      <dd className="address">{info.governor}</dd>
      <dt>Timelock</dt>
      <dd className="address">{info.timelock ?? "…"}</dd>
      <dt>Indexed head</dt>
      <dd>block {info.head_block}</dd>
    </dl>
  );
}

function ProposalList({ chainId, head, live }: { chainId: number; head: number; live: boolean }) {
  const [state, setState] = useState("");
  const proposals = useInfiniteQuery({
    queryKey: ["proposals", chainId, state],
    queryFn: ({ pageParam }) => getJson<Page<Proposal>>(`/proposals${query({ state, chain_id: chainId, cursor: pageParam })}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    // States move with blocks, not only with events: poll, faster without the stream.
    refetchInterval: live ? 5000 : 2000,
  });
  const items = proposals.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section aria-labelledby="proposals-heading">
      <div className="actions">
        <h2 id="proposals-heading">Proposals</h2>
        <label htmlFor="proposal-state-filter">State</label>
        <select id="proposal-state-filter" data-testid="proposal-state-filter" value={state} onChange={(e) => setState(e.target.value)}>
          <option value="">all</option>
          {PROPOSAL_STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <Link href="/governance/new/">New proposal</Link>
      </div>
      {proposals.error && (
        <p className="error" role="alert">
          Could not load the proposals: {(proposals.error as Error).message}
        </p>
      )}
      {proposals.isSuccess && items.length === 0 && (
        <p className="muted" data-testid="proposals-empty">
          No {state ? `${state} ` : ""}proposals yet.
        </p>
      )}
      <ul className="rows" aria-busy={proposals.isLoading}>
        {items.map((p) => (
          <li key={`${p.chain_id}-${p.proposal_id}`} data-testid="proposal-item" data-proposal-id={p.proposal_id}>
            <div className="title-row">
              <Link href={proposalHref(p.proposal_id, p.chain_id)}>{p.title || "(untitled)"}</Link>
              <StateBadge state={p.state} />
            </div>
            <div className="meta muted">
              <span>by {shortAddress(p.proposer)}</span>
              <span>
                for {formatVotes(p.votes_for)} · against {formatVotes(p.votes_against)} · abstain {formatVotes(p.votes_abstain)}
              </span>
              <span>{p.voters} voter{p.voters === 1 ? "" : "s"}</span>
              {(p.state === "pending" || p.state === "active") && <span>{votingWindow(p, head)}</span>}
            </div>
          </li>
        ))}
      </ul>
      {proposals.hasNextPage && (
        <button type="button" className="secondary" disabled={proposals.isFetchingNextPage} onClick={() => void proposals.fetchNextPage()}>
          More proposals
        </button>
      )}
    </section>
  );
}

function MyVotingPower({ live }: { live: boolean }) {
  const { data: deployment } = useDeployment();
  const wallet = useWallet();
  const client = useQueryClient();
  const [to, setTo] = useState("");
  const [inputError, setInputError] = useState<string | null>(null);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const me = wallet.status === "connected" ? wallet.address : undefined;
  // Delegating moves the wallet to the current chain first.
  const usable = me !== undefined && deployment !== undefined;
  const power = useQuery({
    queryKey: ["voting-power", me, deployment?.chain_id],
    queryFn: () => getJson<VotingPower>(`/voting-power/${me}${query({ chain_id: deployment?.chain_id })}`),
    enabled: me !== undefined && deployment !== undefined,
    refetchInterval: live ? 5000 : 2000,
  });

  if (me === undefined) {
    return (
      <section className="panel" aria-labelledby="power-heading">
        <h2 id="power-heading">Your voting power</h2>
        <p className="muted" data-testid="governance-connect">
          Connect a wallet (the Connect button at the top) to see your votes and delegate them.
        </p>
      </section>
    );
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const target = to.trim();
    if (!ADDRESS.test(target)) {
      setInputError("Enter the address to delegate to: 0x and 40 hexadecimal digits.");
      return;
    }
    if (!deployment) return;
    setInputError(null);
    setTxError(null);
    setTx({ status: "signing" });
    setBusy(true);
    const [engine, gov] = await Promise.all([loadEngine(deployment), loadGovernance()]);
    try {
      await gov.delegate(engine, target, setTx);
      setTo("");
    } catch (err) {
      const failure = gov.describeGovernance(engine, err);
      setTx((t) => ({ ...t, status: failure.status }));
      setTxError(failure.message);
    } finally {
      setBusy(false);
      void client.invalidateQueries({ queryKey: ["voting-power"] });
    }
  }

  const p = power.data;
  const self = p?.delegate && p.delegate.toLowerCase() === me.toLowerCase();
  return (
    <section className="panel" aria-labelledby="power-heading">
      <h2 id="power-heading">Your voting power</h2>
      {power.error && (
        <p className="error" role="alert">
          Could not load your voting power: {(power.error as Error).message}
        </p>
      )}
      <dl className="facts" aria-busy={p === undefined}>
        <dt>Votes</dt>
        <dd data-testid="voting-power">{p ? `${formatVotes(p.votes)} votes` : "…"}</dd>
        <dt>Your active stake</dt>
        <dd>{p ? `${formatVotes(p.stake)} DATACOIN` : "…"}</dd>
        <dt>Delegating to</dt>
        <dd className="address" data-testid="voting-delegate">
          {p ? (p.delegate ? `${p.delegate}${self ? " (yourself)" : ""}` : "nobody yet (your first stake delegates to yourself)") : "…"}
        </dd>
        <dt>Delegating to you</dt>
        <dd>{p ? `${p.delegators} account${p.delegators === 1 ? "" : "s"}` : "…"}</dd>
      </dl>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <label htmlFor="delegate-input">Delegate all your votes to</label>
        <div className="actions">
          <input
            id="delegate-input"
            data-testid="delegate-input"
            className="address grow"
            autoComplete="off"
            spellCheck={false}
            placeholder="0x…"
            value={to}
            aria-invalid={inputError !== null}
            aria-describedby={inputError ? "delegate-error" : undefined}
            onChange={(e) => setTo(e.target.value)}
          />
          <button type="submit" data-testid="delegate-submit" disabled={!usable || busy}>
            Delegate
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={() => setTo(me)}>
            Myself
          </button>
        </div>
        {inputError && (
          <p className="error" role="alert" id="delegate-error" data-testid="delegate-error">
            {inputError}
          </p>
        )}
        <TxLine label="Delegation" tx={tx} error={txError} />
      </form>
    </section>
  );
}

export function GovernanceView() {
  const live = useLiveGovernance();
  const { data: deployment } = useDeployment();
  const info = useGovernanceInfo(live, deployment?.chain_id);
  return (
    <section className="gov">
      <h1>Governance {deployment && <ChainBadge chainId={deployment.chain_id} />}</h1>
      <p className="muted">
        Stakers govern the platform: voting power is active stake, read at each proposal&apos;s snapshot. A passed proposal waits in the
        Timelock, which then runs it: it owns the fee, the treasury, the training workers and the Governor&apos;s own settings.
      </p>
      {info.error && (
        <p className="error" role="alert">
          Could not load the governance parameters: {(info.error as Error).message}
        </p>
      )}
      {info.data === null && (
        <p className="error" data-testid="governance-missing">
          This deployment has no Governor: its contracts are run by their deployer.
        </p>
      )}
      {info.data && <Parameters info={info.data} />}
      <MyVotingPower live={live} />
      {info.data && deployment && <ProposalList chainId={deployment.chain_id} head={info.data.head_block} live={live} />}
    </section>
  );
}
