// What went wrong with a wallet request or a transaction, as the UI says it.
import { BaseError, decodeErrorResult, type Abi, type Hex } from "viem";

export type Failure = { status: "cancelled" | "failed"; message: string };

/** A sentence per custom error of the contracts (others are spelled out by name). */
const SENTENCES: Record<string, string> = {
  PriceAboveMax: "The price changed since you opened the page",
  AlreadyOwned: "You already own this dataset",
  AlreadyRated: "You have already rated this dataset",
  DatasetNotActive: "This dataset is no longer listed",
  UnknownDataset: "This dataset does not exist on this chain",
  NotPurchaser: "Only a buyer of this dataset can rate it",
  NotProvider: "Only the provider of this dataset can do that",
  InvalidScore: "A rating is a whole number from 1 to 5",
  ERC20InsufficientBalance: "Your DATACOIN balance is too low for this purchase",
  ERC20InsufficientAllowance: "The marketplace is not allowed to spend enough of your DATACOIN",
  ERC2612ExpiredSignature: "The permit signature expired; try again",
  ERC2612InvalidSigner: "The permit was signed by another account",
  InvalidAccountNonce: "The permit nonce was already used; try again",
  FaucetCooldown: "The faucet already dripped to you recently; try again later",
};

/** "PriceAboveMax" → "Price above max". */
function words(name: string): string {
  const spaced = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
}

export function sentenceFor(errorName: string): string {
  return SENTENCES[errorName] ?? `The transaction was refused: ${words(errorName)}`;
}

function isRejection(err: unknown): boolean {
  let rejected = false;
  const visit = (e: unknown) => {
    const x = e as { code?: unknown; name?: unknown; cause?: unknown } | null;
    if (!x || typeof x !== "object") return;
    if (x.code === 4001 || x.name === "UserRejectedRequestError") rejected = true;
    if (x.cause && x.cause !== x) visit(x.cause);
  };
  visit(err);
  return rejected;
}

/** The revert data somewhere in the error's causes (an RPC error's `data`). */
function revertData(err: unknown): Hex | undefined {
  let found: Hex | undefined;
  const visit = (e: unknown, depth: number) => {
    if (found || depth > 12 || !e || typeof e !== "object") return;
    const x = e as { data?: unknown; cause?: unknown; raw?: unknown };
    for (const candidate of [x.raw, x.data, (x.data as { data?: unknown } | undefined)?.data]) {
      if (typeof candidate === "string" && /^0x[0-9a-fA-F]{8,}$/.test(candidate)) {
        found = candidate as Hex;
        return;
      }
    }
    visit(x.cause, depth + 1);
  };
  visit(err, 0);
  return found;
}

/** A failure as the UI shows it: `cancelled` for a rejected request (EIP-1193 4001),
 * or a declined network switch; a custom error decoded against `abi` as a sentence, or
 * viem's short message. */
export function describeFailure(err: unknown, abi: Abi): Failure {
  // A declined network switch (./network's ChainSwitchRefused) says which chain was needed.
  if (err instanceof Error && err.name === "ChainSwitchRefused") return { status: "cancelled", message: err.message };
  if (isRejection(err)) return { status: "cancelled", message: "You cancelled the request in your wallet" };
  const data = revertData(err);
  if (data) {
    try {
      const decoded = decodeErrorResult({ abi, data });
      if (decoded.errorName === "Error" && decoded.args?.[0]) {
        return { status: "failed", message: `The transaction was refused: ${String(decoded.args[0])}` };
      }
      return { status: "failed", message: sentenceFor(decoded.errorName) };
    } catch {
      /* not one of ours */
    }
  }
  const named = err instanceof BaseError ? err.walk((e) => (e as { errorName?: string }).errorName !== undefined) : null;
  const errorName = (named as { errorName?: string } | null)?.errorName;
  if (errorName) return { status: "failed", message: sentenceFor(errorName) };
  const message = err instanceof BaseError ? err.shortMessage : err instanceof Error ? err.message : String(err);
  return { status: "failed", message };
}
