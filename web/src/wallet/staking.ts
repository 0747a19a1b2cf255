// Staking's wallet calls (contract `Staking` in /deployment): stake with one EIP-2612
// permit, request an unstake, withdraw after the cooldown, and the reads the page shows.
// Loaded with import() by the stake page, like the engine itself: it is wallet code.
import type { Hex } from "viem";
import type { Engine, TxUpdate } from "./engine";
import type { Failure } from "./errors";
import { sentenceFor } from "./errors";

/** The staking contract's name in /deployment. */
export const STAKING = "Staking";

/** One account's staking position read from the chain, with the chain's own clock. */
export type StakePosition = {
  /** DATACOIN the account holds (wei). */
  balance: bigint;
  /** Active stake (wei): pending unstakes are no longer part of it. */
  staked: bigint;
  /** Requested for withdrawal, waiting for the cooldown (wei). */
  pending: bigint;
  /** Chain time (unix seconds) from which `pending` can be withdrawn; 0 when none. */
  availableAt: bigint;
  /** Seconds between an unstake request and its withdrawal. */
  cooldown: bigint;
  /** The latest block: its number and timestamp (the chain's "now"). */
  blockNumber: bigint;
  blockTimestamp: bigint;
};

/** The connected account's position. The latest block is read first: a state read that
 * lands a block later can only show a newer request, never enable withdraw too early. */
export async function readPosition(engine: Engine): Promise<StakePosition> {
  const c = await engine.client();
  const account = c.account.address;
  const block = await c.getBlock({ blockTag: "latest" });
  const [balance, staked, pending, cooldown] = await Promise.all([
    engine.read<bigint>("DataCoin", "balanceOf", [account]),
    engine.read<bigint>(STAKING, "stakeOf", [account]),
    engine.read<readonly [bigint, bigint]>(STAKING, "pendingUnstake", [account]),
    engine.read<bigint>(STAKING, "cooldown"),
  ]);
  return {
    balance,
    staked,
    pending: pending[0],
    availableAt: pending[1],
    cooldown,
    blockNumber: block.number,
    blockTimestamp: block.timestamp,
  };
}

/** One permit signature for `amount`, then stakeWithPermit(amount, deadline, v, r, s). */
export async function stake(engine: Engine, amount: bigint, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  const p = await engine.permit(STAKING, amount);
  return engine.send(STAKING, "stakeWithPermit", [amount, p.deadline, p.v, p.r, p.s], onUpdate);
}

/** requestUnstake(amount): `amount` stops counting as stake and its cooldown starts. */
export async function requestUnstake(engine: Engine, amount: bigint, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send(STAKING, "requestUnstake", [amount], onUpdate);
}

/** unstake(): withdraw everything pending once the cooldown is over. */
export async function withdraw(engine: Engine, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send(STAKING, "unstake", [], onUpdate);
}

/** Staking's own custom errors, as sentences (the engine spells unknown ones by name). */
const SENTENCES: Record<string, string> = {
  ZeroAmount: "Enter an amount above 0",
  InsufficientStake: "You cannot unstake more than your active stake",
  NothingPending: "There is no unstake request to withdraw",
  CooldownActive: "The cooldown is not over yet on the chain; try again after it ends",
  ERC20InsufficientBalance: "Your DATACOIN balance is too low to stake that much",
};

/** A failure as the stake page says it: the engine's sentence, staking's errors reworded. */
export function describeStaking(engine: Engine, err: unknown): Failure {
  const failure = engine.describe(err);
  for (const [name, sentence] of Object.entries(SENTENCES)) {
    if (failure.message === sentenceFor(name)) return { ...failure, message: sentence };
  }
  return failure;
}
