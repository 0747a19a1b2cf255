"use client";
// The chains the platform runs on (GET /deployments: home first, each with its contracts,
// ABIs, confirmations and public RPC URL) and the "current chain" the user picked in the
// header: explore filters by it, publishing, staking and governance act on it. An item's
// own pages (a dataset, a job, a proposal) act on the item's chain instead.
import { useQuery } from "@tanstack/react-query";
import { useSyncExternalStore } from "react";
import { ApiError, getJson, type Deployment } from "./api";

type DeploymentList = { items: Deployment[] };

const STORAGE_KEY = "datacoin:chain";
const listeners = new Set<() => void>();
let picked: number | null | undefined; // undefined: not read from storage yet
let lastList: Deployment[] | null = null;

/** The chains /deployments answered last (the wallet engine is created with them), or null. */
export function knownDeployments(): Deployment[] | null {
  return lastList;
}

async function fetchDeployments(): Promise<Deployment[]> {
  const items = (await getJson<DeploymentList>("/deployments")).items;
  if (items.length === 0) {
    throw new ApiError(503, "deployment.missing", "The platform has no deployment yet (run `datacoin deploy`)");
  }
  lastList = items;
  return items;
}

/** Every deployed chain, home first (one query shared by every page). */
export function useDeployments() {
  return useQuery({
    queryKey: ["deployments"],
    queryFn: fetchDeployments,
    staleTime: 60_000,
    retry: 2,
  });
}

function readPicked(): number | null {
  if (picked === undefined) {
    let stored: string | null = null;
    try {
      stored = window.localStorage.getItem(STORAGE_KEY);
    } catch {
      /* no storage (opaque origin, private mode): the choice lasts for this page */
    }
    picked = stored && /^[0-9]{1,19}$/.test(stored) ? Number(stored) : null;
  }
  return picked;
}

/** Remember chain `chainId` as the current one (this tab, other tabs on their next load). */
export function setCurrentChain(chainId: number): void {
  picked = chainId;
  try {
    window.localStorage.setItem(STORAGE_KEY, String(chainId));
  } catch {
    /* not persisted: still current for this page */
  }
  listeners.forEach((l) => l());
}

function usePicked(): number | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    readPicked,
    () => null, // the static export renders the home chain; the browser reads its choice
  );
}

/** The chain the user picked when the platform still runs on it, else the home chain. */
export function currentOf(deployments: readonly Deployment[], chosen: number | null): Deployment | undefined {
  return deployments.find((d) => d.chain_id === chosen) ?? deployments.find((d) => d.home) ?? deployments[0];
}

/** The current chain's id (undefined until /deployments answered). */
export function useCurrentChainId(): number | undefined {
  const { data } = useDeployments();
  const chosen = usePicked();
  return data ? currentOf(data, chosen)?.chain_id : undefined;
}

/**
 * One chain's deployment: chain `chainId` (an item's own chain), or the current chain when
 * `chainId` is undefined. `data` is undefined while loading and when the platform does not
 * run on that chain (`unknown` then says so).
 */
export function useDeployment(chainId?: number | null) {
  const chosen = usePicked();
  const list = useDeployments();
  const wanted = chainId ?? undefined;
  const data = list.data
    ? wanted === undefined
      ? currentOf(list.data, chosen)
      : list.data.find((d) => d.chain_id === wanted)
    : undefined;
  return { ...list, data, deployments: list.data, unknown: list.data !== undefined && data === undefined };
}

/** A chain's display name: the API's, else "Chain <id>". */
export function chainName(deployments: readonly Deployment[] | undefined, chainId: number): string {
  return deployments?.find((d) => d.chain_id === chainId)?.name ?? `Chain ${chainId}`;
}

/** Whether the dApp can read chain `d` now: over its public RPC URL, or through the
 * wallet while the wallet is on it. */
export function readable(d: Deployment | undefined, walletChainId: number | undefined): boolean {
  return d !== undefined && (d.rpc_url !== null || walletChainId === d.chain_id);
}
