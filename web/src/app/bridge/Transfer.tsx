"use client";
// One bridge transfer followed live: pending (its block not final yet: n/N confirmations)
// → final (the relayers carry it) → delivered (minted or released on the other chain),
// with the transactions on both chains.
import Link from "next/link";
import { ChainBadge } from "@/components/ChainBadge";
import { TRANSFER_STATES, useTransfer, type BridgeTransfer } from "@/lib/bridge";
import { chainName, useDeployments } from "@/lib/deployment";
import { formatCoin } from "@/lib/format";

const STATE_TEXT: Record<BridgeTransfer["state"], string> = {
  pending: "Waiting for its block to be final on the source chain",
  final: "Final: the relayers are carrying it to the other chain",
  delivered: "Delivered",
};

function Steps({ state }: { state: BridgeTransfer["state"] | null }) {
  const at = state === null ? -1 : TRANSFER_STATES.indexOf(state);
  return (
    <ol className="bridge-steps" aria-label="Progress">
      {TRANSFER_STATES.map((s, i) => (
        <li key={s} className={i < at ? "done" : i === at ? "current" : undefined} aria-current={i === at ? "step" : undefined}>
          {s}
        </li>
      ))}
    </ol>
  );
}

export function TransferCard({ messageId }: { messageId: string }) {
  const transfer = useTransfer(messageId);
  const { data: deployments } = useDeployments();
  const t = transfer.data ?? null;
  const shown = Math.min(t?.confirmations ?? 0, t?.confirmations_needed ?? 0);
  return (
    <section className="panel" data-testid="bridge-transfer" data-message-id={messageId} data-state={t?.state ?? "indexing"} aria-labelledby="transfer-heading">
      <h2 id="transfer-heading">Transfer</h2>
      <Steps state={t?.state ?? null} />
      {transfer.isError && (
        <p className="error" role="alert">
          Could not read this transfer: {transfer.error.message}
        </p>
      )}
      <p className="status" aria-live="polite">
        <strong data-testid="bridge-transfer-state">{t ? t.state : "sent"}</strong>
        {" — "}
        {t ? STATE_TEXT[t.state] : "waiting for the platform to index it"}
        {t && t.state === "pending" && (
          <>
            {" "}
            (<span data-testid="bridge-transfer-confirmations">
              {shown}/{t.confirmations_needed}
            </span>{" "}
            confirmations)
          </>
        )}
      </p>
      {t && (
        <dl className="facts">
          <dt>Amount</dt>
          <dd data-testid="bridge-transfer-amount">{formatCoin(t.amount)}</dd>
          <dt>From</dt>
          <dd>
            <ChainBadge chainId={t.source_chain_id} /> <span className="address">{t.sender}</span>
          </dd>
          <dt>To</dt>
          <dd>
            <ChainBadge chainId={t.dest_chain_id} /> <span className="address">{t.recipient}</span>
          </dd>
          <dt>Confirmations</dt>
          <dd>
            {shown}/{t.confirmations_needed} on {chainName(deployments, t.source_chain_id)}
          </dd>
          <dt>Sent in</dt>
          <dd>
            <code className="hash" data-testid="bridge-source-tx">
              {t.source.tx_hash}
            </code>{" "}
            <span className="muted">
              (block {t.source.block_number} on {chainName(deployments, t.source.chain_id)})
            </span>
          </dd>
          <dt>Delivered in</dt>
          <dd>
            {t.delivery ? (
              <>
                <code className="hash" data-testid="bridge-delivery-tx">
                  {t.delivery.tx_hash}
                </code>{" "}
                <span className="muted">
                  (block {t.delivery.block_number} on {chainName(deployments, t.delivery.chain_id)})
                </span>
              </>
            ) : (
              <span className="muted">not yet</span>
            )}
          </dd>
          <dt>Message</dt>
          <dd className="address hash">{t.message_id}</dd>
        </dl>
      )}
      <p>
        <Link href={`/bridge/?transfer=${messageId}`}>Link to this transfer</Link>
      </p>
    </section>
  );
}
