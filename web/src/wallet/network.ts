// The wallet's network: which chain it is on, and asking it to move to the chain a
// transaction or signature belongs to (EIP-3326 wallet_switchEthereumChain, then EIP-3085
// wallet_addEthereumChain when the wallet does not know the chain, error 4902).
import { defineChain, toHex, type Chain, type EIP1193Provider } from "viem";
import type { Deployment } from "@/lib/api";

/** Local development chains (anvil's and Hardhat's ids, and the demo's second anvil). */
export const DEV_CHAINS = new Set([31337, 31338, 1337]);

/** What the UI calls chain `d`: its name, with the id unless the name already has it. */
export function chainLabel(d: Pick<Deployment, "chain_id" | "name">): string {
  if (!d.name) return `chain ${d.chain_id}`;
  return d.name.includes(String(d.chain_id)) ? d.name : `${d.name} (chain ${d.chain_id})`;
}

/** A viem chain for deployment `d` (its public RPC URL; a dev chain's default otherwise). */
export function chainOf(d: Deployment): Chain {
  const rpc = d.rpc_url ?? (DEV_CHAINS.has(d.chain_id) ? "http://127.0.0.1:8545" : undefined);
  return defineChain({
    id: d.chain_id,
    name: d.name ?? `Chain ${d.chain_id}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: rpc ? [rpc] : [] } },
    testnet: DEV_CHAINS.has(d.chain_id),
  });
}

/** The user declined to move the wallet to the chain an action needs: nothing was sent. */
export class ChainSwitchRefused extends Error {
  constructor(
    readonly wanted: number,
    readonly walletChainId: number,
    label: string,
  ) {
    super(`Your wallet stayed on chain ${walletChainId}: this needs it on ${label}, and you declined to switch. Nothing was signed or sent.`);
    this.name = "ChainSwitchRefused";
  }
}

/** Whether `err` or one it wraps (a cause, MetaMask's data.originalError) has EIP-1193 `code`. */
function hasCode(err: unknown, code: number, depth = 0): boolean {
  const x = err as { code?: unknown; data?: { originalError?: unknown }; cause?: unknown } | null;
  if (!x || typeof x !== "object" || depth > 8) return false;
  if (x.code === code) return true;
  return hasCode(x.data?.originalError, code, depth + 1) || (x.cause !== x && hasCode(x.cause, code, depth + 1));
}

export async function walletChainId(provider: EIP1193Provider): Promise<number> {
  return Number(await provider.request({ method: "eth_chainId" }));
}

/**
 * Moves the wallet to chain `d` unless it is there already: switch, and when the wallet
 * does not know the chain (4902) add it from /deployments (name, public RPC URL). Throws
 * ChainSwitchRefused when the user declines (4001) or the wallet stays elsewhere.
 */
export async function ensureChain(provider: EIP1193Provider, d: Deployment): Promise<void> {
  const before = await walletChainId(provider);
  if (before === d.chain_id) return;
  const label = chainLabel(d);
  const chainId = toHex(d.chain_id);
  const refused = () => new ChainSwitchRefused(d.chain_id, before, label);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (err) {
    if (hasCode(err, 4001)) throw refused();
    if (!hasCode(err, 4902)) throw err;
    if (!d.rpc_url) {
      throw new Error(`Your wallet does not know ${label}, and this platform names no public RPC URL for it: add that network to your wallet, then try again.`);
    }
    const chain = chainOf(d);
    try {
      await provider.request({
        method: "wallet_addEthereumChain",
        params: [{ chainId, chainName: chain.name, nativeCurrency: chain.nativeCurrency, rpcUrls: [d.rpc_url] }],
      });
      // Adding usually switches too; a wallet that only adds is asked once more.
      if ((await walletChainId(provider)) !== d.chain_id) {
        await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
      }
    } catch (addErr) {
      if (hasCode(addErr, 4001)) throw refused();
      throw addErr;
    }
  }
  if ((await walletChainId(provider)) !== d.chain_id) throw refused();
}
