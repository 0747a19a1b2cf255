"use client";
// Whether the API answered the last request: the `api-error` banner reads this.
import { useSyncExternalStore } from "react";

let down = false;
const listeners = new Set<() => void>();

export function setApiDown(value: boolean): void {
  if (down === value) return;
  down = value;
  listeners.forEach((l) => l());
}

export function useApiDown(): boolean {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => down,
    () => false,
  );
}
