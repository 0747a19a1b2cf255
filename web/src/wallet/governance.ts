// Governance's wallet calls: delegate votes (Staking.delegate), propose, vote, queue and
// execute through the DatacoinGovernor, the chain reads the pages judge them by (the head,
// the chain's clock, votes at a snapshot), and the Governor's reverts as sentences.
// Loaded with import() by the governance pages, like the engine itself: it is wallet code.
import { BaseError, ContractFunctionRevertedError, encodeFunctionData, formatUnits, getAddress, keccak256, toBytes, type Abi, type Address, type Hex } from "viem";
import type { Deployment } from "@/lib/api";
import { DECIMALS } from "@/lib/format";
import { SUPPORT, type PlannedCall, type ProposalAction, type SupportName } from "@/lib/governance";
import type { Engine, TxUpdate } from "./engine";
import { sentenceFor, type Failure } from "./errors";

/** The contracts' names in /deployment. */
export const GOVERNOR = "DatacoinGovernor";
export const STAKING = "Staking";

/** The columns a proposal's calls travel in (propose, queue, execute and hashProposal). */
export type ProposalCalls = { targets: Address[]; values: bigint[]; calldatas: Hex[] };

/** The latest block: its number and the chain's clock (unix seconds). */
export type ChainHead = { number: bigint; timestamp: bigint };

/** The connected account and one proposal, as the chain answers now. */
export type ProposalOnChain = ChainHead & {
  account: Address;
  /** The account's votes at the proposal's snapshot (0 while the snapshot is not past). */
  votes: bigint;
  hasVoted: boolean;
  /** Earliest execution (chain seconds) once queued; 0 before. */
  eta: bigint;
};

/** The connected account's voting power on the chain. */
export type MyVotes = { account: Address; votes: bigint; delegate: Address; threshold: bigint; head: bigint };

const votes = (wei: bigint): string => formatUnits(wei, DECIMALS);

export async function readHead(engine: Engine): Promise<ChainHead> {
  const c = await engine.client();
  const block = await c.getBlock({ blockTag: "latest" });
  return { number: block.number, timestamp: block.timestamp };
}

/** The head first: a vote read a block later can only be newer, never earlier. */
export async function readProposal(engine: Engine, proposalId: string, snapshot: number): Promise<ProposalOnChain> {
  const c = await engine.client();
  const account = c.account.address;
  const head = await readHead(engine);
  const id = BigInt(proposalId);
  // getVotes(account, timepoint) refuses a timepoint that is not in the past.
  const past = BigInt(snapshot) < head.number;
  const [atSnapshot, hasVoted, eta] = await Promise.all([
    past ? engine.read<bigint>(GOVERNOR, "getVotes", [account, BigInt(snapshot)]) : Promise.resolve(0n),
    engine.read<boolean>(GOVERNOR, "hasVoted", [id, account]),
    engine.read<bigint>(GOVERNOR, "proposalEta", [id]),
  ]);
  return { ...head, account, votes: atSnapshot, hasVoted, eta };
}

export async function readMyVotes(engine: Engine): Promise<MyVotes> {
  const c = await engine.client();
  const account = c.account.address;
  const head = await c.getBlockNumber({ cacheTime: 0 });
  const [current, delegate, threshold] = await Promise.all([
    engine.read<bigint>(STAKING, "getVotes", [account]),
    engine.read<Address>(STAKING, "delegates", [account]),
    engine.read<bigint>(GOVERNOR, "proposalThreshold"),
  ]);
  return { account, votes: current, delegate, threshold, head };
}

/** Staking.delegate(to): all of the account's votes (its active stake) count for `to`. */
export async function delegate(engine: Engine, to: string, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send(STAKING, "delegate", [getAddress(to)], onUpdate);
}

/** Why the connected account cannot vote on the proposal now, as a sentence, or null.
 * Checked before the wallet is asked for anything: a vote with no weight would be
 * counted as a voter with 0 votes, and one cast twice reverts. */
export async function voteRefusal(engine: Engine, proposalId: string, snapshot: number): Promise<string | null> {
  const p = await readProposal(engine, proposalId, snapshot);
  if (p.number <= BigInt(snapshot)) return `Voting has not opened yet: it opens after block ${snapshot}.`;
  if (p.hasVoted) return "You have already voted on this proposal.";
  if (p.votes === 0n) {
    return `You had no votes at this proposal's snapshot (block ${snapshot}): only stake delegated to you before it counts, so stake added later cannot vote on it.`;
  }
  return null;
}

/** castVoteWithReason(proposalId, support, reason). */
export async function castVote(
  engine: Engine,
  proposalId: string,
  support: SupportName,
  reason: string,
  onUpdate: (u: TxUpdate) => void,
): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send(GOVERNOR, "castVoteWithReason", [BigInt(proposalId), SUPPORT[support], reason], onUpdate);
}

/** The planned calls encoded against /deployment's addresses and ABIs. */
export function encodeCalls(deployment: Deployment, calls: readonly PlannedCall[]): ProposalCalls {
  const out: ProposalCalls = { targets: [], values: [], calldatas: [] };
  for (const call of calls) {
    const contract = deployment.contracts[call.contract];
    if (!contract) throw new Error(`${call.contract} is not part of this deployment`);
    out.targets.push(getAddress(contract.address));
    out.values.push(0n);
    out.calldatas.push(
      encodeFunctionData({ abi: contract.abi as unknown as Abi, functionName: call.functionName, args: call.args as unknown[] }),
    );
  }
  return out;
}

/** A proposal's calls as the API lists them (its actions, in order). */
export function callsOf(actions: readonly ProposalAction[]): ProposalCalls {
  return {
    targets: actions.map((a) => getAddress(a.target)),
    values: actions.map((a) => BigInt(a.value)),
    calldatas: actions.map((a) => a.calldata as Hex),
  };
}

/** keccak256 of the description, as queue and execute take it. */
export const descriptionHash = (description: string): Hex => keccak256(toBytes(description));

/** Why the connected account cannot propose now, or null: the Governor counts its votes
 * at the previous block against the threshold. */
export async function proposeRefusal(engine: Engine): Promise<string | null> {
  const c = await engine.client();
  const head = await c.getBlockNumber({ cacheTime: 0 });
  const [have, threshold] = await Promise.all([
    engine.read<bigint>(GOVERNOR, "getVotes", [c.account.address, head - 1n]),
    engine.read<bigint>(GOVERNOR, "proposalThreshold"),
  ]);
  if (have >= threshold) return null;
  return `You need at least ${votes(threshold)} votes to propose (you have ${votes(have)}): stake DATACOIN, or have votes delegated to you.`;
}

/** propose(targets, values, calldatas, description): the new proposal's id (the Governor's
 * hash of the same four, known before it is sent) and the transaction. */
export async function propose(
  engine: Engine,
  calls: ProposalCalls,
  description: string,
  onUpdate: (u: TxUpdate) => void,
): Promise<{ proposalId: string; hash: Hex }> {
  onUpdate({ status: "signing" });
  const id = await engine.read<bigint>(GOVERNOR, "hashProposal", [calls.targets, calls.values, calls.calldatas, descriptionHash(description)]);
  const hash = await engine.send(GOVERNOR, "propose", [calls.targets, calls.values, calls.calldatas, description], onUpdate);
  return { proposalId: id.toString(), hash };
}

/** queue(targets, values, calldatas, descriptionHash): a succeeded proposal into the Timelock. */
export async function queue(engine: Engine, calls: ProposalCalls, description: string, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send(GOVERNOR, "queue", [calls.targets, calls.values, calls.calldatas, descriptionHash(description)], onUpdate);
}

/** execute(targets, values, calldatas, descriptionHash): a queued proposal once its eta passed. */
export async function execute(engine: Engine, calls: ProposalCalls, description: string, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send(GOVERNOR, "execute", [calls.targets, calls.values, calls.calldatas, descriptionHash(description)], onUpdate);
}

const STATE_NAMES = ["pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed"];

/** The Governor's and Staking's custom errors as sentences, from their decoded arguments. */
const SENTENCES: Record<string, (args: readonly unknown[]) => string> = {
  GovernorUnexpectedProposalState: (a) => `The proposal is not open for that now (it is ${STATE_NAMES[Number(a[1])] ?? "in another state"})`,
  GovernorInsufficientProposerVotes: (a) =>
    a.length >= 3 ? `You need at least ${votes(a[2] as bigint)} votes to propose (you have ${votes(a[1] as bigint)})` : "You do not have enough votes to propose",
  GovernorAlreadyCastVote: () => "You have already voted on this proposal",
  GovernorNonexistentProposal: () => "There is no such proposal on this chain",
  GovernorInvalidProposalLength: () => "The proposal's targets, values and calls do not match up",
  GovernorInvalidVoteType: () => "A vote is for, against or abstain",
  GovernorAlreadyQueuedProposal: () => "The proposal is already queued",
  GovernorNotQueuedProposal: () => "The proposal is not queued",
  GovernorInvalidQuorumFraction: (a) => `The quorum can be at most ${String(a[1])}`,
  GovernorInvalidVotingPeriod: () => "The voting period must be at least 1 block",
  GovernorRestrictedProposer: () => "This proposal may only be made by the account its description names",
  GovernorOnlyExecutor: () => "Only the Timelock can do that",
  TimelockUnexpectedOperationState: () => "The Timelock is not ready to run this yet: its delay has not passed on the chain",
  TimelockUnexecutedPredecessor: () => "An earlier operation this one depends on has not run yet",
  ZeroDelegate: () => "Delegate to an address other than zero",
  FeeTooHigh: () => "The fee can be at most 10%",
  FailedCall: () => "One of the proposal's calls failed when the Timelock ran it",
};

/** A failure as the governance pages say it: the Governor's errors with their numbers,
 * otherwise the engine's sentence (or `cancelled`). `step` words the errors whose meaning
 * depends on the call (a proposal "in an unexpected state" when proposing is a duplicate). */
export function describeGovernance(engine: Engine, err: unknown, step?: "propose"): Failure {
  const failure = engine.describe(err);
  if (failure.status === "cancelled" || !(err instanceof BaseError)) return failure;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
  const name = reverted?.data?.errorName;
  if (step === "propose" && name === "GovernorUnexpectedProposalState") {
    // The id hashes the actions and the description: the same ones were proposed before.
    return { status: "failed", message: "This proposal already exists: the same actions with the same description were proposed before" };
  }
  const sentence = name ? SENTENCES[name] : undefined;
  if (sentence) return { status: "failed", message: sentence(reverted?.data?.args ?? []) };
  // An error from a contract the Governor called (the Timelock, a target): the engine
  // decoded it by name, without the arguments.
  for (const [other, say] of Object.entries(SENTENCES)) {
    if (failure.message !== sentenceFor(other)) continue;
    try {
      return { status: "failed", message: say([]) };
    } catch {
      return failure;
    }
  }
  return failure;
}
