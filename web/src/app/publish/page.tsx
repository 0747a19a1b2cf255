"use client";
// Publish: upload with progress (XMLHttpRequest, bearer), the returned profile, then the
// listDataset transaction from the calldata the API prepared.
import { useState, type FormEvent } from "react";
import type { UploadResult } from "@/lib/api";
import { useDeployment } from "@/lib/deployment";
import { coinToWei } from "@/lib/format";
import { currentToken, loadEngine, useWallet } from "@/wallet/store";

function upload(form: FormData, token: string, onProgress: (fraction: number) => void): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/uploads");
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

export default function PublishPage() {
  const { data: deployment } = useDeployment();
  const wallet = useWallet();
  const [progress, setProgress] = useState<number | null>(null);
  const [result, setResult] = useState<UploadResult | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ready = wallet.status === "connected" && deployment && wallet.chainId === deployment.chain_id;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!deployment) return;
    setError(null);
    setResult(null);
    const engine = await loadEngine(deployment);
    try {
      const data = new FormData(event.currentTarget);
      const wei = coinToWei(String(data.get("price_coin") ?? ""));
      if (wei === null) throw new Error("The price must be a number of DATACOIN");
      data.delete("price_coin");
      data.set("price", wei);
      const days = Number(data.get("access_days") || 0);
      data.delete("access_days");
      data.set("access_duration", String(Math.round(days * 86400)));
      const token = currentToken() ?? (await engine.signIn());
      setProgress(0);
      const uploaded = await upload(data, token, setProgress);
      setResult(uploaded);
      const to = (uploaded.listing.to ?? deployment.contracts.Marketplace!.address) as `0x${string}`;
      await engine.sendPrepared(to, uploaded.listing.data as `0x${string}`, (u) => setStatus(u.status));
    } catch (err) {
      const failure = engine.describe(err);
      setStatus((s) => (s ? failure.status : s));
      setError(failure.message);
    }
  };

  return (
    <section>
      <h1>Publish a dataset</h1>
      {!ready && <p className="muted">Connect a wallet on the right network to publish.</p>}
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <label>
          File (CSV, JSON, JSON Lines, Parquet)
          <input data-testid="publish-file" name="file" type="file" required accept=".csv,.json,.jsonl,.parquet" />
        </label>
        <label>
          Title <input data-testid="publish-title" name="title" required maxLength={200} />
        </label>
        <label>
          Description <textarea name="description" maxLength={5000} rows={3} />
        </label>
        <label>
          Category <input data-testid="publish-category" name="category" required maxLength={32} />
        </label>
        <label>
          Price (DATACOIN) <input data-testid="publish-price" name="price_coin" required inputMode="decimal" defaultValue="1" />
        </label>
        <label>
          Access (days, 0 = perpetual) <input name="access_days" type="number" min={0} defaultValue={0} />
        </label>
        <label>
          Preview rows (published unencrypted) <input name="preview_rows" type="number" min={0} max={100} defaultValue={5} />
        </label>
        <button type="submit" data-testid="publish-submit" disabled={!ready}>
          Upload and list
        </button>
      </form>
      {progress !== null && (
        <p>
          Upload: <progress data-testid="upload-progress" max={1} value={progress} /> {Math.round(progress * 100)}%
        </p>
      )}
      {result && (
        <div className="panel" data-testid="upload-result">
          <p>
            Stored {result.rows} rows ({result.encrypted ? "encrypted" : "in the clear"}), metadata {result.metadata_cid}
          </p>
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th>Column</th>
                  <th>Type</th>
                  <th>Nulls</th>
                  <th>Distinct</th>
                </tr>
              </thead>
              <tbody>
                {result.columns.map((c) => (
                  <tr key={c.name}>
                    <td>{c.name}</td>
                    <td>{c.type}</td>
                    <td>{c.nulls}</td>
                    <td>{c.distinct ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
      {status && (
        <p>
          Listing: <span data-testid="publish-status">{status}</span>
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
