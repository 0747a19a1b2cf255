"use client";
// A training job, followed live: GET /training-jobs/{id}, refreshed on the stream's `job`
// events and polled meanwhile (finality and the model card change without an event),
// from requested → running → done / failed; then its metrics, its model card and, for
// the requester, the model download (SIWE bearer, saved from a blob).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Fragment, useEffect, useState } from "react";
import { ApiError, getJson, query, request, type TrainingJobDetail } from "@/lib/api";
import { useDeployment } from "@/lib/deployment";
import { datasetHref, formatCoin } from "@/lib/format";
import { currentToken, loadEngine, useWallet } from "@/wallet/store";
import { ChainBadge } from "@/components/ChainBadge";

/** What the page calls the job's state: the read model knows requested / logged / refunded;
 * a request is handed to a worker once it is final, so a final request is running. */
export type JobPhase = "requested" | "running" | "done" | "failed";

export function phaseOf(job: TrainingJobDetail | null): JobPhase {
  if (job === null || job.status === "requested") return job?.finalized ? "running" : "requested";
  return job.status === "logged" ? "done" : "failed";
}

/** Nothing will change any more: the outcome is final and, when logged, its card is in. */
function settled(job: TrainingJobDetail | null | undefined): boolean {
  if (!job || !job.finalized) return false;
  return job.status === "refunded" || (job.status === "logged" && job.metrics !== null);
}

const POLL_MS = 1500;

function useLiveJob(id: string, chain: string | null) {
  const client = useQueryClient();
  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/stream");
    const onJob = (message: MessageEvent<string>) => {
      const e = JSON.parse(message.data) as { job_id?: string | number };
      if (e.job_id !== undefined && String(e.job_id) === id) void client.invalidateQueries({ queryKey: ["job", id, chain] });
    };
    source.addEventListener("job", onJob as EventListener);
    source.addEventListener("job.retracted", onJob as EventListener); // a reorg took it back
    return () => source.close();
  }, [client, id, chain]);
  return useQuery({
    queryKey: ["job", id, chain],
    queryFn: async () => {
      try {
        return await getJson<TrainingJobDetail>(`/training-jobs/${id}${query({ chain_id: chain })}`);
      } catch (err) {
        // Sent, but not indexed yet: the request is on its way to the read model.
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    enabled: /^[0-9]{1,78}$/.test(id),
    refetchInterval: (q) => (settled(q.state.data) ? false : POLL_MS),
  });
}

function show(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** A spec value as typed: numbers in full, lists joined, the model as its kind and its
 * other fields ("mlp (hidden sizes 16, 8)", "cnn (image size 16, channels 8, 16, …)"). */
function specValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(", ");
  if (v && typeof v === "object" && "kind" in v) {
    const { kind, ...fields } = v as Record<string, unknown>;
    const shown = Object.entries(fields)
      .filter(([, f]) => !(Array.isArray(f) && f.length === 0))
      .map(([k, f]) => `${k.replace(/_/g, " ")} ${specValue(f)}`);
    return shown.length ? `${String(kind)} (${shown.join(", ")})` : String(kind);
  }
  return v === null || v === undefined ? "" : String(v);
}

/** The job's framework: the card's once trained, else the spec's (which leaves out the
 * default, pytorch, so older specs keep their bytes). */
function frameworkOf(job: TrainingJobDetail): string {
  const card = job.model_card as { framework?: unknown } | null;
  const spec = job.spec as { framework?: unknown } | null;
  return String(card?.framework ?? spec?.framework ?? "pytorch");
}

/** The model file's name as the API serves it: .keras for a Keras model, else .safetensors. */
function modelFileName(job: TrainingJobDetail): string {
  const card = job.model_card as { model?: { format?: unknown } } | null;
  const keras = card?.model?.format === "keras" || (card?.model?.format === undefined && frameworkOf(job) === "tensorflow");
  return `model-${job.chain_id}-${job.job_id}.${keras ? "keras" : "safetensors"}`;
}

const SPEC_FIELDS = ["task", "target", "features", "model", "epochs", "batch_size", "learning_rate", "validation_split", "seed"];

function filenameOf(reply: Response, fallback: string): string {
  const plain = /filename="([^"]+)"/i.exec(reply.headers.get("Content-Disposition") ?? "");
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

function ModelDownload({ job }: { job: TrainingJobDetail }) {
  const { data: deployment } = useDeployment(job.chain_id);
  const wallet = useWallet();
  const [status, setStatus] = useState<string | null>(null);
  const isRequester = wallet.status === "connected" && wallet.address?.toLowerCase() === job.requester.toLowerCase();
  if (!isRequester) return <p className="muted">The model itself is for the account that paid for the job; its card is public.</p>;
  // The API serves the model once its TrainingLogged is final (425 before).
  const ready = job.status === "logged" && job.finalized;

  const download = async () => {
    if (!deployment) return;
    const engine = await loadEngine(deployment);
    try {
      setStatus("signing in");
      const token = currentToken() ?? (await engine.signIn());
      setStatus("downloading");
      const reply = await request(`/training-jobs/${job.job_id}/model?chain_id=${job.chain_id}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const blob = await reply.blob();
      save(blob, filenameOf(reply, modelFileName(job)));
      setStatus(`saved (${blob.size} bytes)`);
    } catch (err) {
      setStatus(`failed: ${err instanceof ApiError ? err.message : engine.describe(err).message}`);
    }
  };

  return (
    <div className="actions">
      <button type="button" data-testid="download-model" disabled={!ready || status === "downloading" || status === "signing in"} onClick={() => void download()}>
        Download model
      </button>
      {!ready && job.status === "logged" && <span className="muted">once the result is final on chain</span>}
      {status && <span data-testid="download-status">{status}</span>}
    </div>
  );
}

function ModelCard({ job }: { job: TrainingJobDetail }) {
  const card = (job.model_card ?? {}) as { model?: Record<string, unknown>; code_version?: unknown; training?: Record<string, unknown> };
  const spec = (job.spec ?? {}) as Record<string, unknown>;
  return (
    <dl className="facts" data-testid="model-card">
      <dt>Model CID</dt>
      <dd className="address">{job.model_cid}</dd>
      <dt>Model SHA-256</dt>
      <dd className="address" data-testid="model-hash">
        {job.model_hash}
      </dd>
      <dt>Framework</dt>
      <dd data-testid="model-framework">{frameworkOf(job) === "tensorflow" ? "TensorFlow (Keras 3)" : "PyTorch"}</dd>
      <dt>Model file</dt>
      <dd className="address" data-testid="model-file">
        {modelFileName(job)}
      </dd>
      {card.model?.size !== undefined && (
        <>
          <dt>Size</dt>
          <dd>
            {show(card.model.size)} bytes ({show(card.model.format)}, {card.model.encrypted ? "sealed for the requester" : "plain"})
          </dd>
        </>
      )}
      <dt>Metrics CID</dt>
      <dd className="address">{job.metrics_cid}</dd>
      <dt>Metrics hash</dt>
      <dd className="address">{job.metrics_hash}</dd>
      <dt>Spec CID</dt>
      <dd className="address">{job.spec_cid}</dd>
      {SPEC_FIELDS.filter((k) => spec[k] !== undefined).map((k) => (
        <Fragment key={k}>
          <dt>{k.replace(/_/g, " ")}</dt>
          <dd>{specValue(spec[k])}</dd>
        </Fragment>
      ))}
      {card.code_version !== undefined && (
        <>
          <dt>Code version</dt>
          <dd className="address">{show(card.code_version)}</dd>
        </>
      )}
      {card.training?.device !== undefined && (
        <>
          <dt>Trained on</dt>
          <dd>{show(card.training.device)}</dd>
        </>
      )}
    </dl>
  );
}

export function JobView() {
  const params = useSearchParams();
  const id = params.get("id") ?? "";
  const chain = params.get("chain");
  const job = useLiveJob(id, chain);

  if (!/^[0-9]{1,78}$/.test(id)) return <p>No job given: request one from a dataset you have access to.</p>;
  if (job.isPending) return <p className="muted">Loading…</p>;
  if (job.isError) return <p role="alert">{job.error.message}</p>;
  const j = job.data;
  const phase = phaseOf(j);
  return (
    <article>
      <h1>Training job #{id}</h1>
      <p className="status">
        Status: <strong data-testid="job-status">{phase}</strong>{" "}
        <span className="muted" data-testid="job-finality">
          {j === null
            ? "(waiting for the indexer to see the request)"
            : `(${j.finalized ? "final on chain" : "not final yet"}, block ${j.block_number})`}
        </span>
      </p>
      {phase === "running" && <p className="muted">A worker trains the model in a sandbox; this page updates by itself.</p>}
      {phase === "failed" && <p role="alert">No worker logged a result in time: the escrow went back to the requester.</p>}
      {j && (
        <dl className="facts">
          <dt>Chain</dt>
          <dd data-testid="job-chain" data-chain-id={j.chain_id}>
            <ChainBadge chainId={j.chain_id} /> <span className="muted">chain id {j.chain_id}</span>
          </dd>
          <dt>Dataset</dt>
          <dd>
            <Link href={datasetHref(j.dataset_id, j.chain_id)}>#{j.dataset_id}</Link>
          </dd>
          <dt>Requester</dt>
          <dd className="address">
            <Link href={`/account/?address=${j.requester}`}>{j.requester}</Link>
          </dd>
          <dt>Escrow</dt>
          <dd>{formatCoin(j.payment)}</dd>
          <dt>Requested</dt>
          <dd>{new Date(j.requested_at).toLocaleString()}</dd>
          <dt>Deadline</dt>
          <dd>{new Date(j.deadline).toLocaleString()}</dd>
          {j.worker && (
            <>
              <dt>Worker</dt>
              <dd className="address">{j.worker}</dd>
            </>
          )}
          {j.worker_amount && j.provider_amount && (
            <>
              <dt>Paid out</dt>
              <dd>
                {formatCoin(j.worker_amount)} to the worker, {formatCoin(j.provider_amount)} to the provider
              </dd>
            </>
          )}
        </dl>
      )}
      {j && phase === "done" && (
        <>
          <h2>Metrics</h2>
          {j.metrics ? (
            <dl className="facts" data-testid="job-metrics">
              {Object.entries(j.metrics).map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k.replace(/_/g, " ")}</dt>
                  <dd data-metric={k}>{show(v)}</dd>
                </Fragment>
              ))}
            </dl>
          ) : (
            <p className="muted">Fetching the model card…</p>
          )}
          <h2>Model card</h2>
          <ModelCard job={j} />
          <ModelDownload job={j} />
        </>
      )}
    </article>
  );
}
