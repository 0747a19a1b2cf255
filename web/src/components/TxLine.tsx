"use client";
// One transaction's progress as the pages show it: what it is, its status (the engine's
// TxUpdate: signing → pending → mined → confirmations → final, or failed / cancelled), its
// hash, and a failure's sentence.
import type { TxUpdate } from "@/wallet/engine";

export function TxLine({ label, tx, error }: { label: string; tx: TxUpdate | null; error: string | null }) {
  if (tx === null && error === null) return null; // nothing sent yet
  return (
    <>
      <p className="status" aria-live="polite">
        {label}: <span data-testid="tx-status">{tx?.status ?? ""}</span>
        {tx?.hash && <code className="hash"> {tx.hash}</code>}
      </p>
      {error && (
        <p className="error" role="alert" data-testid="tx-error">
          {error}
        </p>
      )}
    </>
  );
}
