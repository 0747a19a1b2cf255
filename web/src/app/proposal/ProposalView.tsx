"use client";
// /proposal/?id=&chain=: one proposal — its description and actions as sentences, live
// tallies with the quorum, its state and blocks against the chain's head, the votes, and
// what can be done now: vote while active, queue once succeeded, execute once queued and
// the Timelock's delay has passed in the chain's time. Wallet code loads on demand.
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useEffect, useState } from "react";
import { getJson, query } from "@/lib/api";
import { readable, useDeployment } from "@/lib/deployment";
import { ChainBadge } from "@/components/ChainBadge";
import { formatDuration } from "@/app/stake/amount";
import { StateBadge, useGovernanceInfo } from "@/app/governance/shared";
import { TxLine } from "@/components/TxLine";
import { formatVotes, useLiveGovernance, votingWindow, type Page, type ProposalDetail, type SupportName, type Vote } from "@/lib/governance";
import type { Engine, TxUpdate } from "@/wallet/engine";
import type { ProposalOnChain } from "@/wallet/governance";
import { loadEngine, useWallet } from "@/wallet/store";
import "@/app/governance/governance.css";

type Governance = typeof import("@/wallet/governance");
const loadGovernance = (): Promise<Governance> => import("@/wallet/governance");
/** A chain read, and when (browser clock, ms) its block was first seen. */
type Reading = ProposalOnChain & { seenAt: number };
type Step = "vote" | "queue" | "execute";
const STEP_LABEL: Record<Step, string> = { vote: "Vote", queue: "Queue", execute: "Execution" };

function utc(seconds: bigint | number): string {
  return new Date(Number(seconds) * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** The share `part` is of `whole`, in percent (0..100), for a bar's width. */
function share(part: bigint, whole: bigint): number {
  if (whole <= 0n) return part > 0n ? 100 : 0;
  const pct = Number((part * 10000n) / whole) / 100;
  return Math.min(100, pct);
}

function Tallies({ p, live }: { p: ProposalDetail; live: boolean }) {
  const forVotes = BigInt(p.votes_for);
  const against = BigInt(p.votes_against);
  const abstain = BigInt(p.votes_abstain);
  const total = forVotes + against + abstain;
  const needed = BigInt(p.quorum);
  const counted = forVotes + abstain;
  const rows: { key: SupportName; label: string; wei: bigint }[] = [
    { key: "for", label: "For", wei: forVotes },
    { key: "against", label: "Against", wei: against },
    { key: "abstain", label: "Abstain", wei: abstain },
  ];
  return (
    <section className="panel" aria-labelledby="tally-heading">
      <h2 id="tally-heading">Votes</h2>
      <p className="muted" data-testid="live-indicator" data-live={live ? "true" : "false"}>
        {live ? "Live: new votes show as they are cast." : "Refreshed every few seconds."}
      </p>
      <div className="tallies">
        {rows.map((r) => (
          <div className="tally" key={r.key}>
            <span>{r.label}</span>
            <span>
              <span data-testid={`tally-${r.key}`}>{formatVotes(r.wei)}</span> votes
              <span className={`bar ${r.key}`} aria-hidden="true">
                <span style={{ width: `${share(r.wei, total)}%` }} />
              </span>
            </span>
          </div>
        ))}
        <div className="tally">
          <span>Quorum</span>
          <span>
            <span data-testid="quorum" data-reached={p.quorum_reached ? "true" : "false"}>
              {formatVotes(counted)} of {formatVotes(needed)} needed (for + abstain){p.quorum_reached ? ": reached" : ""}
            </span>
            <span
              className="bar quorum"
              role="progressbar"
              aria-label="Quorum"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(share(counted, needed))}
            >
              <span style={{ width: `${share(counted, needed)}%` }} />
            </span>
          </span>
        </div>
      </div>
      <p className="muted">
        {p.voters} voter{p.voters === 1 ? "" : "s"}. A proposal passes with more votes for than against and the quorum reached.
      </p>
    </section>
  );
}

function VotesList({ id, chainId, live }: { id: string; chainId: number; live: boolean }) {
  const votes = useInfiniteQuery({
    queryKey: ["proposal-votes", id, chainId],
    queryFn: ({ pageParam }) => getJson<Page<Vote>>(`/proposals/${id}/votes${query({ chain_id: chainId, cursor: pageParam })}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    refetchInterval: live ? 10_000 : 3000,
  });
  const items = votes.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section aria-labelledby="votes-heading">
      <h2 id="votes-heading">Voters</h2>
      {votes.isSuccess && items.length === 0 && <p className="muted">No votes yet.</p>}
      <ul className="rows">
        {items.map((v) => (
          <li key={`${v.tx_hash}-${v.voter}`} data-testid="vote-item" data-voter={v.voter} data-support={v.support}>
            <span className="address">{v.voter}</span> voted <strong>{v.support}</strong> with {formatVotes(v.weight)} votes{" "}
            <span className="muted">
              (block {v.block_number}
              {v.finalized ? "" : ", not final yet"})
            </span>
            {v.reason && <p className="description" data-testid="vote-item-reason">“{v.reason}”</p>}
          </li>
        ))}
      </ul>
      {votes.hasNextPage && (
        <button type="button" className="secondary" onClick={() => void votes.fetchNextPage()}>
          More votes
        </button>
      )}
    </section>
  );
}

export function ProposalView() {
  const params = useSearchParams();
  const id = params.get("id") ?? "";
  // The proposal's chain (the link's `chain`; the current chain when it names none).
  const chainParam = params.get("chain");
  const { data: deployment } = useDeployment(chainParam && /^\d{1,19}$/.test(chainParam) ? Number(chainParam) : undefined);
  const chainId = Number(chainParam ?? deployment?.chain_id ?? 0);
  const wallet = useWallet();
  const client = useQueryClient();
  const live = useLiveGovernance();
  const info = useGovernanceInfo(live, chainId > 0 ? chainId : undefined);
  const [support, setSupport] = useState<SupportName | null>(null);
  const [reason, setReason] = useState("");
  const [voteError, setVoteError] = useState<string | null>(null);
  const [step, setStep] = useState<Step | null>(null);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(() => Date.now());
  const validId = /^\d{1,78}$/.test(id);
  const connected = wallet.status === "connected" && wallet.address !== undefined;
  // Read over the chain's RPC URL, or through the wallet while it is there; votes, queue
  // and execute move the wallet to the proposal's chain first.
  const canRead = connected && readable(deployment, wallet.chainId);

  const detail = useQuery({
    queryKey: ["proposal", id, chainId],
    queryFn: () => getJson<ProposalDetail>(`/proposals/${id}${query({ chain_id: chainId })}`),
    enabled: validId && chainId > 0,
    // The state moves with blocks, not only with events.
    refetchInterval: live ? 4000 : 2000,
  });
  const p = detail.data;
  const chainKey = ["proposal-chain", id, chainId, wallet.address, wallet.chainId];
  const onChain = useQuery({
    queryKey: chainKey,
    queryFn: async (): Promise<Reading> => {
      const [engine, gov] = await Promise.all([loadEngine(deployment!), loadGovernance()]);
      const read = await gov.readProposal(engine, id, p!.vote_start);
      const before = client.getQueryData<Reading>(chainKey);
      const seenAt = before?.number === read.number ? before.seenAt : Date.now();
      return { ...read, seenAt };
    },
    enabled: canRead && p !== undefined,
    refetchInterval: 2000,
  });
  const chain = onChain.data;
  // A new head can change the state: ask the API again (it answers at its indexed head).
  const headSeen = chain?.number;
  useEffect(() => {
    if (headSeen !== undefined) void client.invalidateQueries({ queryKey: ["proposal", id] });
  }, [headSeen, client, id]);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  if (!validId) {
    return (
      <p className="error" role="alert">
        That is not a proposal id (a whole number).
      </p>
    );
  }
  if (detail.error) {
    return (
      <section className="gov">
        <h1>Proposal</h1>
        <p className="error" role="alert" data-testid="proposal-error">
          Could not load this proposal: {(detail.error as Error).message}
        </p>
        <Link href="/governance/">All proposals</Link>
      </section>
    );
  }
  if (!p) return <p className="muted">Loading…</p>;

  const head = chain !== undefined ? Number(chain.number) : (info.data?.head_block ?? p.created_block);
  const headSource = chain !== undefined ? "the chain's head" : "the API's indexed head";
  const eta = chain?.eta ?? 0n;
  // Executable once the chain's latest block has passed the eta: the browser's clock says
  // nothing about the chain's (a dev chain moves its clock by hand).
  const etaPassed = chain !== undefined && eta > 0n && chain.timestamp >= eta;
  const chainNow = chain !== undefined ? chain.timestamp + BigInt(Math.max(0, Math.floor((now - chain.seenAt) / 1000))) : 0n;
  const [titleLine, ...rest] = p.description.split("\n");
  const body = rest.join("\n").trim();

  async function run(which: Step, call: (engine: Engine, gov: Governance) => Promise<unknown>) {
    if (!deployment) return;
    setStep(which);
    setTxError(null);
    setTx({ status: "signing" });
    setBusy(true);
    const [engine, gov] = await Promise.all([loadEngine(deployment), loadGovernance()]);
    try {
      await call(engine, gov);
      if (which === "vote") setReason("");
    } catch (err) {
      const failure = gov.describeGovernance(engine, err);
      setTx((t) => ({ ...t, status: failure.status }));
      setTxError(failure.message);
    } finally {
      setBusy(false);
      void onChain.refetch();
      void client.invalidateQueries({ queryKey: ["proposal", id] });
      void client.invalidateQueries({ queryKey: ["proposal-votes", id] });
    }
  }

  async function vote(e: React.FormEvent) {
    e.preventDefault();
    if (!deployment || !p) return;
    if (support === null) {
      setVoteError("Choose for, against or abstain.");
      return;
    }
    setVoteError(null);
    setBusy(true);
    const [engine, gov] = await Promise.all([loadEngine(deployment), loadGovernance()]);
    // Refused here, before the wallet is asked for anything.
    let refusal: string | null;
    try {
      if (!readable(deployment, wallet.chainId)) await engine.switchNetwork(); // the check reads the chain
      refusal = await gov.voteRefusal(engine, id, p.vote_start);
    } catch (err) {
      refusal = gov.describeGovernance(engine, err).message;
    }
    setBusy(false);
    if (refusal) {
      setVoteError(refusal);
      return;
    }
    const chosen = support;
    await run("vote", (en, g) => g.castVote(en, id, chosen, reason.trim(), setTx));
  }

  const queue = () => void run("queue", (en, g) => g.queue(en, g.callsOf(p.actions), p.description, setTx));
  const execute = () => void run("execute", (en, g) => g.execute(en, g.callsOf(p.actions), p.description, setTx));
  const ready = connected && deployment !== undefined && !busy;
  const switchWallet = async () => {
    if (!deployment) return;
    const engine = await loadEngine(deployment);
    try {
      await engine.switchNetwork();
    } catch (err) {
      setTxError(engine.describe(err).message);
    }
  };

  return (
    <article className="gov">
      <p>
        <Link href="/governance/">← All proposals</Link>
      </p>
      <div className="title-row">
        <h1 data-testid="proposal-title">{titleLine || p.title}</h1>
        <StateBadge state={p.state} />
        <ChainBadge chainId={p.chain_id} />
      </div>
      <p className="muted">
        Proposed by <span className="address">{p.proposer}</span> in block {p.created_block}
        {p.finalized ? "" : " (its latest change is not final yet)"}.
      </p>
      {body && <p className="description" data-testid="proposal-description">{body}</p>}

      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">If it passes, the Timelock will</h2>
        <ol data-testid="proposal-actions">
          {p.actions.map((a, i) => (
            <li key={i} data-testid="proposal-action">
              {a.sentence}
            </li>
          ))}
        </ol>
      </section>

      <Tallies p={p} live={live} />

      <dl className="facts panel" data-testid="proposal-blocks">
        <dt>State</dt>
        <dd>
          {p.state}
          {(p.state === "pending" || p.state === "active") && <span data-testid="voting-window"> — {votingWindow(p, head)}</span>}
        </dd>
        <dt>Snapshot</dt>
        <dd>block {p.vote_start} (votes are counted as they stood then)</dd>
        <dt>Voting ends</dt>
        <dd>after block {p.vote_end}</dd>
        <dt>Head</dt>
        <dd>
          block {head} ({headSource})
        </dd>
        {p.queued_block !== null && (
          <>
            <dt>Queued</dt>
            <dd>block {p.queued_block}</dd>
          </>
        )}
        {(p.eta !== null || eta > 0n) && (
          <>
            <dt>Executable from</dt>
            <dd data-testid="proposal-eta" data-ready={etaPassed ? "true" : "false"}>
              {eta > 0n ? utc(eta) : p.eta} (chain time)
              {p.state === "queued" &&
                chain !== undefined &&
                (etaPassed ? ": now" : eta > chainNow ? `: in ${formatDuration(Number(eta - chainNow))}` : ": with the next block")}
            </dd>
          </>
        )}
        {p.executed_block !== null && (
          <>
            <dt>Executed</dt>
            <dd>block {p.executed_block}</dd>
          </>
        )}
        {p.canceled_block !== null && (
          <>
            <dt>Canceled</dt>
            <dd>block {p.canceled_block}</dd>
          </>
        )}
      </dl>

      {(p.state === "active" || p.state === "succeeded" || p.state === "queued" || step !== null) && (
        <section className="panel" aria-labelledby="act-heading">
          <h2 id="act-heading">{p.state === "active" ? "Vote" : p.state === "succeeded" ? "Queue" : p.state === "queued" ? "Execute" : "Transaction"}</h2>
          {!connected && <p className="muted">Connect a wallet (the Connect button at the top) to take part.</p>}
          {connected && !canRead && (
            <p className="muted">
              Your wallet is on another chain: it is asked to switch to chain {chainId} when you take part.{" "}
              <button type="button" className="secondary" data-testid="proposal-switch" disabled={busy} onClick={() => void switchWallet()}>
                Switch now
              </button>
            </p>
          )}
          {p.state === "active" && (
            <form onSubmit={(e) => void vote(e)} noValidate>
              {chain !== undefined && (
                <p data-testid="my-votes">
                  {chain.hasVoted
                    ? "You have voted on this proposal."
                    : chain.number > BigInt(p.vote_start)
                      ? `You have ${formatVotes(chain.votes)} votes on this proposal (your votes at its snapshot).`
                      : ""}
                </p>
              )}
              <fieldset className="choice">
                <legend>Your vote</legend>
                {(["for", "against", "abstain"] as const).map((s) => (
                  <label key={s}>
                    <input type="radio" name="support" value={s} data-testid={`vote-${s}`} checked={support === s} onChange={() => setSupport(s)} />
                    {s}
                  </label>
                ))}
              </fieldset>
              <label htmlFor="vote-reason">Reason (optional, stored on chain)</label>
              <textarea id="vote-reason" data-testid="vote-reason" value={reason} maxLength={2000} onChange={(e) => setReason(e.target.value)} />
              <div className="actions">
                <button type="submit" data-testid="vote-submit" disabled={!ready}>
                  Cast vote
                </button>
              </div>
              {voteError && (
                <p className="error" role="alert" data-testid="vote-error">
                  {voteError}
                </p>
              )}
            </form>
          )}
          {p.state === "succeeded" && (
            <div className="actions">
              <p>The vote passed. Anyone may queue it in the Timelock, which can run it after its delay.</p>
              <button type="button" data-testid="queue-button" disabled={!ready} onClick={queue}>
                Queue
              </button>
            </div>
          )}
          {p.state === "queued" && (
            <div className="actions">
              <p>
                {etaPassed
                  ? "The Timelock's delay has passed: anyone may execute it now."
                  : "Waiting for the Timelock's delay to pass on the chain's clock."}
              </p>
              <button type="button" data-testid="execute-button" disabled={!ready || !etaPassed} onClick={execute}>
                Execute
              </button>
            </div>
          )}
          {step !== null && <TxLine label={STEP_LABEL[step]} tx={tx} error={txError} />}
        </section>
      )}

      <VotesList id={id} chainId={chainId} live={live} />
    </article>
  );
}
