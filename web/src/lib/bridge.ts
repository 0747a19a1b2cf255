"use client";
// The bridge as the pages see it: which chains it joins (from /deployments: the home
// chain's BridgeVault, the other chain's BridgeGateway), transfers from the API (one, and
// an account's, live from /stream's `bridge` topic and polled while they move: their
// confirmations grow with blocks, which no event announces). No wallet code here (that is
// ../wallet/bridge, loaded on demand).
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError, getJson, query, type Deployment, type Schemas } from "./api";

export type BridgeTransfer = Schemas["BridgeTransfer"];
export type TransferState = BridgeTransfer["state"];
type Page<T> = { items: T[]; next_cursor: string | null };

/** The contracts' names in /deployments. */
export const VAULT = "BridgeVault";
export const GATEWAY = "BridgeGateway";
export const TRANSFER_STATES: readonly TransferState[] = ["pending", "final", "delivered"];
export const MESSAGE_ID = /^0x[0-9a-fA-F]{64}$/;

/** The two sides of the bridge: the home chain (its vault locks DATACOIN) and the chain
 * where it is bridged (its gateway mints and burns); null when there is no bridge. */
export type BridgeSides = { home: Deployment; remote: Deployment };

export function bridgeSides(deployments: readonly Deployment[] | undefined): BridgeSides | null {
  const home = deployments?.find((d) => d.contracts[VAULT] !== undefined);
  const remote = deployments?.find((d) => d.contracts[GATEWAY] !== undefined && d.chain_id !== home?.chain_id);
  return home && remote ? { home, remote } : null;
}

/** How often a transfer still moving is read again (ms): confirmations come with blocks. */
const MOVING_REFRESH_MS = 1000;

/** GET /bridge/transfers/{id}; null while the indexer has not seen it yet (404). */
export function useTransfer(messageId: string | null) {
  return useQuery({
    queryKey: ["bridge-transfer", messageId?.toLowerCase()],
    queryFn: async (): Promise<BridgeTransfer | null> => {
      try {
        return await getJson<BridgeTransfer>(`/bridge/transfers/${messageId}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    enabled: messageId !== null && MESSAGE_ID.test(messageId),
    refetchInterval: (q) => (q.state.data?.state === "delivered" ? false : MOVING_REFRESH_MS),
  });
}

/** The account's transfers (sent or received), newest first, page by page. */
export function useTransfers(account: string | undefined) {
  return useInfiniteQuery({
    queryKey: ["bridge-transfers", account?.toLowerCase()],
    queryFn: ({ pageParam }) => getJson<Page<BridgeTransfer>>(`/accounts/${account}/bridge-transfers${query({ limit: 10, cursor: pageParam })}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    enabled: account !== undefined,
    refetchInterval: (q) => (q.state.data?.pages.some((p) => p.items.some((t) => t.state !== "delivered")) ? 2 * MOVING_REFRESH_MS : false),
  });
}

type BridgeEvent = { message_id?: string; event?: string; retracted?: boolean };

/** Refreshes transfers (and balances on a delivery) as /stream announces bridge events;
 * whether the stream is connected. */
export function useLiveBridge(): boolean {
  const client = useQueryClient();
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/stream");
    const onEvent = (message: MessageEvent<string>) => {
      let e: BridgeEvent;
      try {
        e = JSON.parse(message.data) as BridgeEvent;
      } catch {
        return;
      }
      if (e.message_id) void client.invalidateQueries({ queryKey: ["bridge-transfer", e.message_id.toLowerCase()] });
      void client.invalidateQueries({ queryKey: ["bridge-transfers"] });
      if (e.event === "BridgeMinted" || e.event === "BridgeReleased") void client.invalidateQueries({ queryKey: ["balance"] });
    };
    source.addEventListener("bridge", onEvent as EventListener);
    source.addEventListener("bridge.retracted", onEvent as EventListener);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(source.readyState === EventSource.OPEN);
    return () => source.close();
  }, [client]);
  return connected;
}
