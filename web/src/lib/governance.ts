// Governance as the pages see it: the API's shapes (/work/gov-api-contract.md), the
// proposal form's actions and their sentences, and live updates from /stream. No wallet
// code here (that is ../wallet/governance, loaded on demand).
"use client";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { formatUnits, parseUnits } from "viem/utils";
import type { Schemas } from "./api";
import { DECIMALS } from "./format";

export type GovernanceInfo = Schemas["GovernanceInfo"];
export type Proposal = Schemas["Proposal"];
export type ProposalDetail = Schemas["ProposalDetail"];
export type ProposalAction = Schemas["Action"];
export type Vote = Schemas["Vote"];
export type VotingPower = Schemas["VotingPower"];
export type Page<T> = { items: T[]; next_cursor: string | null };

export const PROPOSAL_STATES = ["pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed"] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

/** The Governor's vote choices (GovernorCountingSimple's numbers). */
export const SUPPORT = { against: 0, for: 1, abstain: 2 } as const;
export type SupportName = keyof typeof SUPPORT;

/** Votes are wei of active stake: shown as DATACOIN figures ("1500", "0.5"). */
export function formatVotes(wei: string | bigint): string {
  return formatUnits(BigInt(wei), DECIMALS);
}

export function proposalHref(id: string, chainId: number): string {
  return `/proposal/?id=${encodeURIComponent(id)}&chain=${chainId}`;
}

/** "1 block", "12 blocks". */
export function blocks(n: number): string {
  return `${n} block${n === 1 ? "" : "s"}`;
}

/** "in 1 block", "in 12 blocks". */
export function inBlocks(n: number): string {
  return `in ${blocks(n)}`;
}

/** Where a proposal's vote stands against the chain's head, as a sentence. OpenZeppelin's
 * Governor: a vote can be cast in a block after `vote_start` (the snapshot) up to and
 * including `vote_end`; a transaction sent now lands in the block after `head`. */
export function votingWindow(p: Pick<Proposal, "vote_start" | "vote_end" | "state">, head: number): string {
  if (p.state === "pending" || head < p.vote_start) {
    const n = Math.max(p.vote_start - head, 0);
    return n === 0 ? `Voting opens with the next block (after block ${p.vote_start})` : `Voting opens ${inBlocks(n)} (after block ${p.vote_start})`;
  }
  if (p.state === "active" || head < p.vote_end) {
    const n = Math.max(p.vote_end - head, 0);
    return n === 0 ? `Voting closes with this block (block ${p.vote_end})` : `Voting closes ${inBlocks(n)} (after block ${p.vote_end})`;
  }
  return `Voting closed after block ${p.vote_end}`;
}

// ---- The proposal form: what the Timelock controls ----------------------------------------

/** The contract functions a proposal made on /governance/new/ can call. */
export const ACTION_KINDS = {
  fee: { label: "Protocol fee (%)", placeholder: "3", contract: "Marketplace", fn: "setFee" },
  treasury: { label: "Treasury address", placeholder: "0x…", contract: "Marketplace", fn: "setTreasury" },
  "register-worker": { label: "Register a training worker", placeholder: "0x…", contract: "TrainingLog", fn: "registerWorker" },
  "remove-worker": { label: "Remove a training worker", placeholder: "0x…", contract: "TrainingLog", fn: "removeWorker" },
  "min-worker-stake": { label: "Minimum worker stake (DATACOIN)", placeholder: "1000", contract: "TrainingLog", fn: "setMinWorkerStake" },
  "voting-delay": { label: "Voting delay (blocks)", placeholder: "7200", contract: "DatacoinGovernor", fn: "setVotingDelay" },
  "voting-period": { label: "Voting period (blocks)", placeholder: "50400", contract: "DatacoinGovernor", fn: "setVotingPeriod" },
  "proposal-threshold": { label: "Proposal threshold (DATACOIN of votes)", placeholder: "1000", contract: "DatacoinGovernor", fn: "setProposalThreshold" },
  quorum: { label: "Quorum (% of active stake)", placeholder: "4", contract: "DatacoinGovernor", fn: "updateQuorumNumerator" },
} as const;
export type ActionKind = keyof typeof ACTION_KINDS;

/** One row of the form: a kind and what was typed for it. */
export type ActionDraft = { kind: ActionKind; value: string };

/** A call the proposal will make, before encoding: contract (its /deployment name),
 * function and arguments, and the sentence the page previews. */
export type PlannedCall = { contract: string; functionName: string; args: readonly (bigint | string)[]; sentence: string };
export type Planned = { ok: true; call: PlannedCall } | { ok: false; message: string };

/** Marketplace.MAX_FEE_BPS: 10%. */
const MAX_FEE_BPS = 1000n;
/** setVotingDelay takes a uint48, setVotingPeriod a uint32 (and refuses 0). */
const MAX_UINT48 = 2n ** 48n - 1n;
const MAX_UINT32 = 2n ** 32n - 1n;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const WHOLE = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;

function percentToBps(text: string): bigint | null {
  if (!DECIMAL.test(text) || (text.split(".")[1]?.length ?? 0) > 2) return null;
  return parseUnits(text, 2);
}

function bpsText(bps: bigint): string {
  return `${formatUnits(bps, 2)}%`;
}

/** A form row as a call, or the sentence saying what is wrong with it. `info` (GET
 * /governance) gives the current Governor settings the sentences compare against. */
export function planAction(draft: ActionDraft, info?: GovernanceInfo): Planned {
  const kind = ACTION_KINDS[draft.kind];
  const t = draft.value.trim();
  const call = (args: readonly (bigint | string)[], sentence: string): Planned => ({
    ok: true,
    call: { contract: kind.contract, functionName: kind.fn, args, sentence },
  });
  if (!t) return { ok: false, message: `Enter a value for “${kind.label}”.` };
  switch (draft.kind) {
    case "fee": {
      const bps = percentToBps(t);
      if (bps === null) return { ok: false, message: "The fee is a percentage with at most 2 decimals, like 3 or 2.75." };
      if (bps > MAX_FEE_BPS) return { ok: false, message: `The fee can be at most ${bpsText(MAX_FEE_BPS)}.` };
      return call([bps], `Set the protocol fee to ${bpsText(bps)} (${bps} basis points)`);
    }
    case "treasury":
    case "register-worker":
    case "remove-worker": {
      if (!ADDRESS.test(t)) return { ok: false, message: "Enter an address: 0x and 40 hexadecimal digits." };
      const sentence =
        draft.kind === "treasury"
          ? `Send the protocol fees to ${t}`
          : draft.kind === "register-worker"
            ? `Register ${t} as a training worker`
            : `Remove ${t} from the training workers`;
      return call([t], sentence);
    }
    case "min-worker-stake":
    case "proposal-threshold": {
      if (!DECIMAL.test(t) || (t.split(".")[1]?.length ?? 0) > DECIMALS) return { ok: false, message: "Enter an amount of DATACOIN, like 1000 or 12.5." };
      const wei = parseUnits(t, DECIMALS);
      if (draft.kind === "min-worker-stake") return call([wei], `Set the minimum worker stake to ${formatVotes(wei)} DATACOIN`);
      const from = info ? ` from ${formatVotes(info.proposal_threshold)}` : "";
      return call([wei], `Set the proposal threshold${from} to ${formatVotes(wei)} votes`);
    }
    case "voting-delay":
    case "voting-period": {
      if (!WHOLE.test(t)) return { ok: false, message: "Enter a whole number of blocks." };
      const blocks = BigInt(t);
      const delay = draft.kind === "voting-delay";
      if (!delay && blocks === 0n) return { ok: false, message: "The voting period must be at least 1 block." };
      if (blocks > (delay ? MAX_UINT48 : MAX_UINT32)) return { ok: false, message: "That is more blocks than the Governor can hold." };
      const current = info ? (delay ? info.voting_delay : info.voting_period) : null;
      const from = current !== null ? ` from ${current}` : "";
      return call([blocks], `Set the ${delay ? "voting delay" : "voting period"}${from} to ${blocks} block${blocks === 1n ? "" : "s"}`);
    }
    case "quorum": {
      if (!WHOLE.test(t)) return { ok: false, message: "The quorum is a whole percentage, like 4." };
      const n = BigInt(t);
      const denominator = BigInt(info?.quorum_denominator ?? 100);
      if (n > denominator) return { ok: false, message: `The quorum can be at most ${denominator}.` };
      const from = info ? ` from ${info.quorum_numerator}%` : "";
      return call([n], `Set the quorum${from} to ${n}% of the active stake`);
    }
  }
}

// ---- Live updates ---------------------------------------------------------------------------

type ProposalEvent = { event: string; chain_id: number; proposal_id: string; retracted: boolean };

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Live governance from GET /stream: a `proposal` or `vote` event (or its retraction)
 * refreshes the lists and that proposal's views. The stream announces an event once it is
 * indexed and the projector applies it moments later, so the refresh is repeated shortly
 * after. Returns whether the stream is connected: the pages poll faster while it is not. */
export function useLiveGovernance(): boolean {
  const client = useQueryClient();
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/stream");
    const refresh = async (e: ProposalEvent) => {
      const id = e.proposal_id === undefined ? undefined : String(e.proposal_id);
      for (const wait of [0, 60, 250, 1000]) {
        await pause(wait);
        await client.invalidateQueries({ queryKey: ["proposals"] });
        await client.invalidateQueries({ queryKey: ["voting-power"] });
        if (id !== undefined) {
          await client.invalidateQueries({ queryKey: ["proposal", id] });
          await client.invalidateQueries({ queryKey: ["proposal-votes", id] });
        }
      }
    };
    const onEvent = (message: MessageEvent<string>) => {
      try {
        void refresh(JSON.parse(message.data) as ProposalEvent);
      } catch {
        /* not ours */
      }
    };
    for (const topic of ["proposal", "vote", "proposal.retracted", "vote.retracted"]) {
      source.addEventListener(topic, onEvent as EventListener);
    }
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(source.readyState === EventSource.OPEN);
    return () => source.close();
  }, [client]);
  return connected;
}
