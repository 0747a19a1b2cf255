// Amounts typed in DATACOIN (18 decimals), checked before anything reaches the wallet.
import { formatUnits, parseUnits } from "viem/utils";
import { DECIMALS } from "@/lib/format";

/** A typed amount: its wei, or the sentence that says why it cannot be used. */
export type ParsedAmount = { ok: true; wei: bigint } | { ok: false; message: string };

const NUMBER = /^\d*(\.\d*)?$/;

/** `text` as wei, refusing blanks, signs, non-numbers, more than 18 decimals and zero. */
export function parseAmount(text: string): ParsedAmount {
  const t = text.trim();
  if (!t) return { ok: false, message: "Enter an amount of DATACOIN." };
  if (t.startsWith("-")) return { ok: false, message: "The amount cannot be negative." };
  if (!NUMBER.test(t) || t === ".") return { ok: false, message: "The amount must be a number of DATACOIN, like 12.5." };
  const decimals = t.split(".")[1]?.length ?? 0;
  if (decimals > DECIMALS) return { ok: false, message: `DATACOIN has at most ${DECIMALS} decimals.` };
  const wei = parseUnits(t, DECIMALS);
  if (wei === 0n) return { ok: false, message: "The amount must be more than 0." };
  return { ok: true, wei };
}

/** `amount` checked against `limit` (what the account has for this action). */
export function withinLimit(amount: ParsedAmount, limit: bigint, what: string): ParsedAmount {
  if (!amount.ok || amount.wei <= limit) return amount;
  return { ok: false, message: `That is more than ${what} (${formatAmount(limit)} DATACOIN).` };
}

/** Wei as a DATACOIN figure (no unit). */
export function formatAmount(wei: bigint): string {
  return formatUnits(wei, DECIMALS);
}

/** Seconds as "6d 23h 59m 58s": leading zero units left out, and with `compact` every
 * zero unit ("7d", not "7d 0h 0m 0s"; a countdown keeps them so it does not jump). */
export function formatDuration(seconds: number, { compact = false } = {}): string {
  const units: [number, string][] = [
    [86400, "d"],
    [3600, "h"],
    [60, "m"],
    [1, "s"],
  ];
  let rest = Math.max(0, Math.floor(seconds));
  const parts: string[] = [];
  for (const [size, unit] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (!compact && parts.length > 0)) parts.push(`${n}${unit}`);
  }
  return parts.length > 0 ? parts.join(" ") : "0s";
}
