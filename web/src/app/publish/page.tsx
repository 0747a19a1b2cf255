"use client";
// Publish in two steps: (1) upload the file with its terms (progress shown; the API profiles
// it and prepares the listing call), (2) review what the platform computed, then send
// `listDataset` from the wallet and follow it to final. Nothing is on chain before step 2.
import Link from "next/link";
import { useState, type FormEvent } from "react";
import type { Deployment, UploadResult } from "@/lib/api";
import { chainName, useDeployment } from "@/lib/deployment";
import { coinToWei, datasetHref, formatCoin } from "@/lib/format";
import { currentToken, loadEngine, useWallet } from "@/wallet/store";
import type { TxStatus } from "@/wallet/engine";

const CATEGORIES = ["tabular", "text", "images", "audio", "time-series", "geospatial"];
const DAY_S = 86_400;

/** The terms the provider set, as the review step shows them. */
type Terms = { title: string; category: string; priceWei: string; accessSeconds: number; previewRows: number };

function upload(form: FormData, chainId: number, token: string, onProgress: (fraction: number) => void): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    // The listing calldata the API prepares is for this chain's Marketplace.
    xhr.open("POST", `/uploads?chain_id=${chainId}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as UploadResult);
      else reject(new Error((body as { detail?: string } | null)?.detail ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error("the API does not answer"));
    xhr.send(form);
  });
}

/** The form's fields as POST /uploads takes them, or a sentence saying what is wrong. */
function uploadForm(form: HTMLFormElement): { data: FormData; terms: Terms } | string {
  const data = new FormData(form);
  const wei = coinToWei(String(data.get("price_coin") ?? ""));
  if (wei === null) return "The price must be a number of DATACOIN (for example 2.5).";
  data.delete("price_coin");
  data.set("price", wei);
  const subscription = data.get("access") === "subscription";
  data.delete("access");
  const days = Number(data.get("access_days") || 0);
  data.delete("access_days");
  if (subscription && !(days > 0)) return "A subscription lasts at least one day.";
  const accessSeconds = subscription ? Math.round(days * DAY_S) : 0;
  data.set("access_duration", String(accessSeconds));
  const terms: Terms = {
    title: String(data.get("title") ?? ""),
    category: String(data.get("category") ?? ""),
    priceWei: wei,
    accessSeconds,
    previewRows: Number(data.get("preview_rows") || 0),
  };
  return { data, terms };
}

function accessText(seconds: number): string {
  if (seconds === 0) return "perpetual (buy once, keep access)";
  const days = seconds / DAY_S;
  return `subscription: ${Number.isInteger(days) ? days : days.toFixed(2)} days per purchase`;
}

export default function PublishPage() {
  // The current chain (the header's picker); an upload stays on the chain it was made for.
  const { data: current, deployments } = useDeployment();
  const wallet = useWallet();
  const [subscription, setSubscription] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const [uploaded, setUploaded] = useState<{ result: UploadResult; terms: Terms; deployment: Deployment } | null>(null);
  const deployment = uploaded?.deployment ?? current;
  const [status, setStatus] = useState<TxStatus | null>(null);
  const [datasetId, setDatasetId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The wallet may be on another chain: listing asks it to switch first.
  const ready = wallet.status === "connected" && deployment !== undefined;
  const several = (deployments?.length ?? 0) > 1;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!deployment) return;
    setError(null);
    setUploaded(null);
    setStatus(null);
    const parsed = uploadForm(event.currentTarget);
    if (typeof parsed === "string") {
      setError(parsed);
      return;
    }
    setBusy(true);
    const engine = await loadEngine(deployment);
    try {
      const token = currentToken() ?? (await engine.signIn());
      setProgress(0);
      const result = await upload(parsed.data, deployment.chain_id, token, setProgress);
      setUploaded({ result, terms: parsed.terms, deployment });
    } catch (err) {
      setProgress(null);
      setError(engine.describe(err).message);
    } finally {
      setBusy(false);
    }
  };

  const list = async () => {
    if (!deployment || !uploaded) return;
    setError(null);
    setBusy(true);
    const engine = await loadEngine(deployment);
    try {
      const { listDataset } = await import("@/wallet/listing");
      const id = await listDataset(engine, deployment, uploaded.result.listing, (u) => setStatus(u.status));
      setDatasetId(id);
    } catch (err) {
      const failure = engine.describe(err);
      setStatus(failure.status);
      setError(failure.message);
    } finally {
      setBusy(false);
    }
  };

  const startOver = () => {
    setUploaded(null);
    setProgress(null);
    setStatus(null);
    setDatasetId(null);
    setError(null);
  };

  const listing = status !== null && status !== "failed" && status !== "cancelled";
  return (
    <section>
      <h1>Publish a dataset</h1>
      {!ready && <p className="muted">Connect a wallet to publish.</p>}
      {several && deployment && (
        <p data-testid="publish-chain" data-chain-id={deployment.chain_id}>
          Publishing on <strong>{chainName(deployments, deployment.chain_id)}</strong>
          {uploaded ? "." : " (pick another chain at the top)."}
          {wallet.status === "connected" && wallet.chainId !== deployment.chain_id && (
            <span className="muted"> Your wallet will be asked to switch to it when you list.</span>
          )}
        </p>
      )}
      {!uploaded && (
        <form className="stack" onSubmit={(e) => void submit(e)} aria-label="Upload a dataset">
          <label>
            File
            <input
              data-testid="publish-file"
              name="file"
              type="file"
              required
              accept=".csv,.json,.jsonl,.ndjson,.parquet,.zip,.tar"
              aria-describedby="publish-file-kinds"
            />
          </label>
          <p id="publish-file-kinds" className="muted" data-testid="publish-file-kinds">
            Accepted: a table (CSV, JSON, Parquet), a text dataset (JSON Lines, one object a line, e.g. a text and a label), or an image
            archive (ZIP or tar: one folder per class, or the images with a labels.csv of file name and label).
          </p>
          <label>
            Title <input data-testid="publish-title" name="title" required maxLength={200} />
          </label>
          <label>
            Description <textarea data-testid="publish-description" name="description" maxLength={5000} rows={3} />
          </label>
          <label>
            Category
            <input data-testid="publish-category" name="category" required maxLength={32} list="publish-categories" />
            <datalist id="publish-categories">
              {CATEGORIES.map((c) => (
                <option key={c} value={c} />
              ))}
            </datalist>
          </label>
          <label>
            Tags (comma-separated) <input data-testid="publish-tags" name="tags" maxLength={500} />
          </label>
          <label>
            Price (DATACOIN) <input data-testid="publish-price" name="price_coin" required inputMode="decimal" defaultValue="1" />
          </label>
          <fieldset className="choice">
            <legend>Access</legend>
            <label>
              <input type="radio" name="access" value="perpetual" checked={!subscription} onChange={() => setSubscription(false)} /> Perpetual
            </label>
            <label>
              <input
                data-testid="publish-subscription"
                type="radio"
                name="access"
                value="subscription"
                checked={subscription}
                onChange={() => setSubscription(true)}
              />{" "}
              Subscription
            </label>
            {subscription && (
              <label>
                Days per purchase <input data-testid="publish-access-days" name="access_days" type="number" min={1} defaultValue={30} />
              </label>
            )}
          </fieldset>
          <label>
            Preview rows (published unencrypted)
            <input data-testid="publish-preview-rows" name="preview_rows" type="number" min={0} max={100} defaultValue={5} />
          </label>
          <button type="submit" data-testid="publish-submit" disabled={!ready || busy}>
            Upload and review
          </button>
        </form>
      )}
      {progress !== null && (
        <p>
          <label>
            Upload <progress data-testid="upload-progress" max={1} value={progress} /> {Math.round(progress * 100)}%
          </label>
        </p>
      )}
      {uploaded && (
        <div className="panel" data-testid="upload-result">
          <h2>Review before listing</h2>
          <dl className="facts">
            <dt>Title</dt>
            <dd>{uploaded.terms.title}</dd>
            <dt>Category</dt>
            <dd>{uploaded.terms.category}</dd>
            <dt>Price</dt>
            <dd data-testid="review-price">{formatCoin(uploaded.terms.priceWei)}</dd>
            <dt>Access</dt>
            <dd data-testid="review-access">{accessText(uploaded.terms.accessSeconds)}</dd>
            <dt>Rows</dt>
            <dd data-testid="review-rows">{uploaded.result.rows}</dd>
            <dt>Stored</dt>
            <dd>
              {uploaded.result.encrypted ? "encrypted (buyers get the key after a final purchase)" : "in the clear"};{" "}
              {uploaded.terms.previewRows} preview rows published
            </dd>
            <dt>Metadata</dt>
            <dd className="address">{uploaded.result.metadata_cid}</dd>
          </dl>
          <h3>Columns the platform found</h3>
          <div className="scroll">
            <table data-testid="review-columns">
              <thead>
                <tr>
                  <th scope="col">Column</th>
                  <th scope="col">Type</th>
                  <th scope="col">Nulls</th>
                  <th scope="col">Distinct</th>
                  <th scope="col">Min</th>
                  <th scope="col">Max</th>
                  <th scope="col">Mean</th>
                </tr>
              </thead>
              <tbody>
                {uploaded.result.columns.map((c) => (
                  <tr key={c.name}>
                    <td>{c.name}</td>
                    <td>{c.type}</td>
                    <td>{c.nulls}</td>
                    <td>
                      {c.distinct ?? ""}
                      {c.distinct_exact === false ? "+" : ""}
                    </td>
                    <td>{c.min === null || c.min === undefined ? "" : String(c.min)}</td>
                    <td>{c.max === null || c.max === undefined ? "" : String(c.max)}</td>
                    <td>{typeof c.mean === "number" ? c.mean.toPrecision(4) : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="actions">
            <button type="button" data-testid="publish-list" disabled={!ready || busy || listing} onClick={() => void list()}>
              List on chain
            </button>
            <button type="button" className="link" disabled={busy || listing} onClick={startOver}>
              Start over
            </button>
          </div>
        </div>
      )}
      {status && (
        <p className="status">
          Listing: <span data-testid="tx-status">{status}</span>
        </p>
      )}
      {datasetId && status === "final" && (
        <p>
          <Link data-testid="publish-dataset-link" href={datasetHref(datasetId, deployment!.chain_id)}>
            Open dataset #{datasetId}
          </Link>{" "}
          <span className="muted">(it appears on Explore once indexed)</span>
        </p>
      )}
      {error && (
        <p className="error" role="alert" data-testid="publish-error">
          {error}
        </p>
      )}
    </section>
  );
}
