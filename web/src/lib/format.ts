import { formatUnits, parseUnits } from "viem/utils";

/** DATACOIN has 18 decimals. */
export const DECIMALS = 18;

export function formatCoin(wei: string | bigint): string {
  const text = formatUnits(BigInt(wei), DECIMALS);
  return `${text} DATACOIN`;
}

/** A price typed in DATACOIN as wei (decimal string), or null when blank or invalid. */
export function coinToWei(text: string): string | null {
  const t = text.trim();
  if (!t) return null;
  try {
    return parseUnits(t, DECIMALS).toString();
  } catch {
    return null;
  }
}

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

export function datasetHref(id: string, chainId: number): string {
  return `/dataset/?id=${encodeURIComponent(id)}&chain=${chainId}`;
}
