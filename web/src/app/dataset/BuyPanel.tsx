"use client";
// Buy (one permit signature + purchaseWithPermit), faucet, download once final, rate.
// Every wallet action goes through the lazily loaded engine (wagmi + viem).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { ApiError, getJson, request, type DatasetDetail, type Purchase } from "@/lib/api";
import { chainName, useDeployment } from "@/lib/deployment";
import { currentToken, loadEngine, useWallet } from "@/wallet/store";
import type { Engine, TxUpdate } from "@/wallet/engine";

type Page<T> = { items: T[]; next_cursor: string | null };

function filenameOf(reply: Response, fallback: string): string {
  const header = reply.headers.get("Content-Disposition") ?? "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star?.[1]) return decodeURIComponent(star[1]);
  const plain = /filename="([^"]+)"/i.exec(header);
  return plain?.[1] ?? fallback;
}

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function BuyPanel({ dataset }: { dataset: DatasetDetail }) {
  // The dataset's own chain, whatever the current one: buying there moves the wallet there.
  const { data: deployment, deployments } = useDeployment(dataset.chain_id);
  const wallet = useWallet();
  const client = useQueryClient();
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [faucet, setFaucet] = useState<string | null>(null);
  const [rateStatus, setRateStatus] = useState<string | null>(null);
  const [score, setScore] = useState(5);
  const [download, setDownload] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = String(dataset.dataset_id);
  const connected = wallet.status === "connected" && wallet.address !== undefined;
  const usable = connected && deployment !== undefined;

  // A purchase this account already holds (final in the read model) enables download.
  const owned = useQuery({
    queryKey: ["purchases", wallet.address, id, dataset.chain_id],
    queryFn: async () => {
      const page = await getJson<Page<Purchase>>(`/accounts/${wallet.address}/purchases?limit=100`);
      return page.items.find((p) => String(p.dataset_id) === id && p.chain_id === dataset.chain_id) ?? null;
    },
    enabled: connected,
  });
  const isProvider = connected && wallet.address?.toLowerCase() === dataset.provider.toLowerCase();
  const canDownload = tx?.status === "final" || Boolean(owned.data?.finalized) || isProvider;

  async function withEngine(action: (e: Engine) => Promise<void>, onError: (message: string, e: Engine) => void) {
    if (!deployment) return;
    const engine = await loadEngine(deployment);
    setBusy(true);
    try {
      await action(engine);
    } catch (err) {
      onError(engine.describe(err).message, engine);
      return engine.describe(err);
    } finally {
      setBusy(false);
    }
  }

  const buy = () => {
    if (!connected) {
      // Buy stays clickable before a wallet is connected: it says what to do first.
      setTxError("Connect a wallet to buy this dataset (the Connect button at the top).");
      return;
    }
    setTxError(null);
    setTx({ status: "signing" });
    void withEngine(
      async (e) => {
        await e.purchase(id, BigInt(dataset.price), setTx);
        void client.invalidateQueries({ queryKey: ["dataset", id] });
        void client.invalidateQueries({ queryKey: ["purchases"] });
      },
      (message, e) => {
        void e;
        setTxError(message);
      },
    ).then((failure) => {
      if (failure) setTx((t) => ({ ...t, status: failure.status }));
    });
  };

  const drip = () => {
    setFaucet("signing");
    void withEngine(
      async (e) => {
        await e.drip((u) => setFaucet(u.status));
      },
      (message) => setFaucet(`failed: ${message}`),
    );
  };

  const rate = () => {
    setRateStatus("signing");
    void withEngine(
      async (e) => {
        await e.rate(id, score, (u) => setRateStatus(u.status));
        void client.invalidateQueries({ queryKey: ["dataset", id] });
      },
      (message) => setRateStatus(`failed: ${message}`),
    );
  };

  const fetchFile = () => {
    setDownload("signing in");
    void withEngine(
      async (e) => {
        const token = currentToken() ?? (await e.signIn());
        setDownload("downloading");
        const path = `/datasets/${id}/download?chain_id=${dataset.chain_id}`;
        // The read model may trail the chain by a moment after "final": retry a 403 briefly.
        for (let attempt = 0; ; attempt++) {
          try {
            const reply = await request(path, { headers: { Authorization: `Bearer ${token}` } });
            const blob = await reply.blob();
            save(blob, filenameOf(reply, `dataset-${id}`));
            setDownload(`saved (${blob.size} bytes)`);
            return;
          } catch (err) {
            if (!(err instanceof ApiError) || err.status !== 403 || attempt >= 15) throw err;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      },
      (message) => setDownload(`failed: ${message}`),
    );
  };

  const hasFaucet = Boolean(deployment?.contracts.Faucet);
  return (
    <div className="panel">
      {!connected && <p className="muted">Connect a wallet to buy this dataset.</p>}
      {connected && deployment && wallet.chainId !== deployment.chain_id && (
        <p className="muted" data-testid="switch-hint">
          This dataset is on {chainName(deployments, deployment.chain_id)}: your wallet will be asked to switch to it.
        </p>
      )}
      <div className="actions">
        <button
          type="button"
          data-testid="buy-button"
          disabled={(connected && !usable) || busy || dataset.status !== "listed" || isProvider}
          onClick={buy}
        >
          Buy
        </button>
        {hasFaucet && (
          <button type="button" data-testid="faucet-button" disabled={!usable || busy} onClick={drip}>
            Get test DATACOIN
          </button>
        )}
        <button type="button" data-testid="download-button" disabled={!usable || !canDownload || busy} onClick={fetchFile}>
          Download
        </button>
        {canDownload && (
          // Training needs the same access as a download: the provider or a final buyer.
          <Link data-testid="request-training" href={`/train/?dataset=${id}&chain=${dataset.chain_id}`}>
            Request training
          </Link>
        )}
      </div>
      <p className="status">
        Purchase:{" "}
        <span data-testid="tx-status">{tx?.status ?? (owned.data ? (owned.data.finalized ? "final" : "mined") : "")}</span>
        {tx?.hash && <code className="hash"> {tx.hash}</code>}
      </p>
      {txError && (
        <p className="error" role="alert" data-testid="tx-error">
          {txError}
        </p>
      )}
      {faucet && <p className="status" data-testid="faucet-status">Faucet: {faucet}</p>}
      {download && <p className="status" data-testid="download-status">Download: {download}</p>}
      <div className="actions">
        <label>
          Rating{" "}
          <select data-testid="rate-score" value={score} onChange={(e) => setScore(Number(e.target.value))}>
            {[5, 4, 3, 2, 1].map((n) => (
              <option key={n} value={n}>
                {"★".repeat(n)} ({n})
              </option>
            ))}
          </select>
        </label>
        <button type="button" data-testid="rate-button" disabled={!usable || !canDownload || busy || isProvider} onClick={rate}>
          Rate
        </button>
        {rateStatus && <span data-testid="rate-status">{rateStatus}</span>}
      </div>
    </div>
  );
}
