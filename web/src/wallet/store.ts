"use client";
// The wallet's state as the pages see it. Small on purpose: the wallet stack itself
// (wagmi, viem's clients, connectors) lives in ./engine, loaded with import() on demand,
// so it is never part of a page's first-load JavaScript.
import { useSyncExternalStore } from "react";
import type { Deployment } from "@/lib/api";
import { knownDeployments } from "@/lib/deployment";
import type { Engine, Wallet } from "./engine";

export type WalletOption = { uid: string; name: string; icon?: string; rdns?: string };

export type WalletState = {
  loaded: boolean;
  status: "disconnected" | "connecting" | "reconnecting" | "connected";
  address?: `0x${string}`;
  chainId?: number;
  options: WalletOption[];
  /** Bearer token of the API session (kept in memory only). */
  token?: string;
  tokenAddress?: string;
};

const initial: WalletState = { loaded: false, status: "disconnected", options: [] };
let state: WalletState = initial;
const listeners = new Set<() => void>();

export function setWallet(patch: Partial<WalletState>): void {
  state = { ...state, ...patch };
  listeners.forEach((l) => l());
}

export function getWallet(): WalletState {
  return state;
}

export function useWallet(): WalletState {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => state,
    () => initial,
  );
}

let wallet: Promise<Wallet> | null = null;

/** The wallet (loaded and created once, for every chain /deployments named), acting on
 * chain `deployment`: its sends and signatures move the wallet to that chain first. */
export async function loadEngine(deployment: Deployment): Promise<Engine> {
  wallet ??= import("./engine").then((m) => m.createWallet(knownDeployments() ?? [deployment]));
  return (await wallet).on(deployment);
}

/** The session token for the connected address, or undefined. */
export function currentToken(): string | undefined {
  return state.token && state.tokenAddress === state.address ? state.token : undefined;
}
