"use client";
// Train: a spec builder on the dataset's columns → POST /training-specs (checked against
// the dataset by the API, which quotes the escrow) → one permit signature and one
// requestTrainingWithPermit transaction → the job page. The wallet code (engine and
// ./training) loads on demand.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useState, type FormEvent } from "react";
import { ApiError, getJson, postJson, query, type DatasetDetail, type TrainingSpecResult } from "@/lib/api";
import { useDeployment } from "@/lib/deployment";
import { datasetHref, formatCoin } from "@/lib/format";
import {
  boundsOf,
  featuresFor,
  fitsInput,
  fittingKinds,
  FRAMEWORKS,
  initialForm,
  isFeatureType,
  MODEL_KINDS,
  readsOf,
  specOf,
  type ModelKind,
  type SpecForm,
  type SpecSchema,
} from "@/lib/trainingSpec";
import type { Engine, TxUpdate } from "@/wallet/engine";
import { currentToken, loadEngine, useWallet } from "@/wallet/store";
import { ChainBadge } from "@/components/ChainBadge";

export function TrainView() {
  const params = useSearchParams();
  const id = params.get("dataset") ?? "";
  const chain = params.get("chain");
  const valid = /^[0-9]{1,78}$/.test(id);
  const detail = useQuery({
    queryKey: ["dataset", id, chain],
    queryFn: () => getJson<DatasetDetail>(`/datasets/${id}${query({ chain_id: chain })}`),
    enabled: valid,
  });
  const schema = useQuery({
    queryKey: ["training-spec-schema"],
    queryFn: () => getJson<SpecSchema>("/training-specs/schema"),
    staleTime: Infinity,
  });

  if (!valid) return <p>No dataset given: open one from <Link href="/">Explore</Link>.</p>;
  if (detail.isPending || schema.isPending) return <p className="muted">Loading…</p>;
  if (detail.isError) {
    const notFound = detail.error instanceof ApiError && detail.error.status === 404;
    return <p role="alert">{notFound ? `Dataset ${id} does not exist.` : detail.error.message}</p>;
  }
  const d = detail.data;
  return (
    <section>
      <h1>Train a model</h1>
      <p>
        On <Link href={datasetHref(String(d.dataset_id), d.chain_id)}>{d.title ?? `dataset #${d.dataset_id}`}</Link>
        {d.rows != null && ` (${d.rows} rows)`} <ChainBadge chainId={d.chain_id} />. A worker trains it in a sandbox once your request is
        final on chain.
      </p>
      {d.column_schema && d.column_schema.length > 0 ? (
        // Keyed: a different dataset starts from its own defaults.
        <SpecBuilder key={`${d.chain_id}:${d.dataset_id}`} dataset={d} schema={schema.data} />
      ) : (
        <p role="alert">This dataset publishes no column schema: there is nothing to build a spec from.</p>
      )}
    </section>
  );
}

function NumberField(props: {
  label: string;
  name: string;
  value: string;
  schema: SpecSchema | undefined;
  step: string;
  kind?: ModelKind;
  onChange: (value: string) => void;
}) {
  const b = boundsOf(props.schema, props.name, props.kind);
  return (
    <label>
      {props.label}
      <input
        data-testid={`spec-${props.name.replace(/_/g, "-")}`}
        type="number"
        inputMode="decimal"
        step={props.step}
        min={b.minimum ?? b.exclusiveMinimum}
        max={b.maximum}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </label>
  );
}

function SpecBuilder({ dataset, schema }: { dataset: DatasetDetail; schema: SpecSchema | undefined }) {
  const columns = dataset.column_schema ?? [];
  // The dataset's chain: training is paid there, whatever the current chain is.
  const { data: deployment } = useDeployment(dataset.chain_id);
  const wallet = useWallet();
  const [form, setForm] = useState<SpecForm>(() => initialForm(columns, schema));
  const [prepared, setPrepared] = useState<TrainingSpecResult | null>(null);
  const [specError, setSpecError] = useState<string | null>(null);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const connected = wallet.status === "connected" && wallet.address !== undefined;
  const usable = connected && deployment !== undefined;

  // Any change makes the checked spec (and its quote) stale: it must be checked again.
  const update = (patch: Partial<SpecForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    setPrepared(null);
    setSpecError(null);
  };
  const toggleFeature = (name: string, on: boolean) =>
    update({ features: on ? columns.map((c) => c.name).filter((n) => n === name || form.features.includes(n)) : form.features.filter((n) => n !== name) });
  const kinds = fittingKinds(columns);
  const reads = readsOf(form.modelKind);
  // A text or image model reads one column and classifies: switching to one sets both.
  const chooseKind = (kind: ModelKind) =>
    update({
      modelKind: kind,
      features: featuresFor(kind, columns, form.target),
      ...(readsOf(kind) === "table" ? {} : { task: "classification" as const }),
    });
  const chooseTarget = (target: string) =>
    update({ target, features: reads === "table" ? form.features.filter((n) => n !== target) : featuresFor(form.modelKind, columns, target) });

  /** The API's answer to the spec, with a session (signing in once when there is none). */
  async function check(engine: Engine): Promise<TrainingSpecResult> {
    const body = { dataset_id: String(dataset.dataset_id), chain_id: dataset.chain_id, spec: specOf(form) };
    const token = currentToken() ?? (await engine.signIn());
    try {
      return await postJson<TrainingSpecResult>("/training-specs", body, token);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      return postJson<TrainingSpecResult>("/training-specs", body, await engine.signIn()); // expired
    }
  }

  const prepare = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!deployment) return;
    if (!connected) {
      setSpecError("Connect a wallet to request training (the Connect button at the top).");
      return;
    }
    setSpecError(null);
    setBusy(true);
    const engine = await loadEngine(deployment);
    try {
      setPrepared(await check(engine));
    } catch (err) {
      // The API's refusal is its problem+json `detail`, a sentence naming the field.
      setSpecError(err instanceof ApiError ? err.message : engine.describe(err).message);
    } finally {
      setBusy(false);
    }
  };

  const pay = async () => {
    if (!deployment || !prepared) return;
    setTxError(null);
    setTx({ status: "signing" });
    setBusy(true);
    const engine = await loadEngine(deployment);
    try {
      const { requestTraining } = await import("@/wallet/training");
      const job = await requestTraining(engine, deployment, prepared, setTx);
      setJobId(job.jobId);
    } catch (err) {
      const failure = engine.describe(err);
      setTx((t) => ({ ...t, status: failure.status }));
      setTxError(failure.message);
    } finally {
      setBusy(false);
    }
  };

  const sent = tx !== null && tx.status !== "failed" && tx.status !== "cancelled";
  return (
    <>
      <form className="stack" data-testid="spec-form" noValidate onSubmit={(e) => void prepare(e)}>
        <label>
          Framework
          <select data-testid="spec-framework" value={form.framework} onChange={(e) => update({ framework: e.target.value as SpecForm["framework"] })}>
            {FRAMEWORKS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <select data-testid="spec-model" value={form.modelKind} onChange={(e) => chooseKind(e.target.value as ModelKind)}>
            {MODEL_KINDS.filter((k) => kinds.includes(k.value) || k.value === form.modelKind).map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Task
          <select data-testid="spec-task" value={form.task} onChange={(e) => update({ task: e.target.value as SpecForm["task"] })}>
            <option value="classification">Classification (predict a label)</option>
            <option value="regression" disabled={reads !== "table"}>
              Regression (predict a number){reads !== "table" && " — table models only"}
            </option>
          </select>
        </label>
        <label>
          Target column
          <select data-testid="spec-target" value={form.target} onChange={(e) => chooseTarget(e.target.value)}>
            {columns.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name} ({c.type})
              </option>
            ))}
          </select>
        </label>
        {reads === "table" ? (
          <fieldset className="checks" data-testid="spec-features">
            <legend>Feature columns (numeric)</legend>
            {columns.map((c) => (
              <label key={c.name} className="check">
                <input
                  type="checkbox"
                  data-testid="spec-feature"
                  data-column={c.name}
                  checked={form.features.includes(c.name)}
                  onChange={(e) => toggleFeature(c.name, e.target.checked)}
                />
                <span className={isFeatureType(c.type) ? undefined : "muted"}>
                  {c.name} ({c.type})
                </span>
              </label>
            ))}
          </fieldset>
        ) : (
          <label>
            {reads === "text" ? "Text column" : "Image column"}
            <select data-testid="spec-input" value={form.features[0] ?? ""} onChange={(e) => update({ features: [e.target.value] })}>
              {columns
                .filter((c) => c.name !== form.target && fitsInput(reads, c.type))
                .map((c) => (
                  <option key={c.name} value={c.name}>
                    {c.name} ({c.type})
                  </option>
                ))}
            </select>
          </label>
        )}
        {form.modelKind === "mlp" && (
          <label>
            Hidden layer sizes (comma-separated, up to 4)
            <input data-testid="spec-hidden-sizes" value={form.hiddenSizes} onChange={(e) => update({ hiddenSizes: e.target.value })} />
          </label>
        )}
        {form.modelKind === "text_embedding" && (
          <div className="fields">
            <NumberField label="Vocabulary buckets" name="vocab_size" kind="text_embedding" step="1" value={form.vocabSize} schema={schema} onChange={(v) => update({ vocabSize: v })} />
            <NumberField label="Embedding size" name="embedding_dim" kind="text_embedding" step="1" value={form.embeddingDim} schema={schema} onChange={(v) => update({ embeddingDim: v })} />
            <NumberField label="Words read (at most)" name="max_tokens" kind="text_embedding" step="1" value={form.maxTokens} schema={schema} onChange={(v) => update({ maxTokens: v })} />
          </div>
        )}
        {form.modelKind === "cnn" && (
          <div className="fields">
            <NumberField label="Image size (pixels a side)" name="image_size" kind="cnn" step="1" value={form.imageSize} schema={schema} onChange={(v) => update({ imageSize: v })} />
            <label>
              Channels per convolution (comma-separated, up to 3)
              <input data-testid="spec-channels" value={form.channels} onChange={(e) => update({ channels: e.target.value })} />
            </label>
            <label className="check">
              <input type="checkbox" data-testid="spec-grayscale" checked={form.grayscale} onChange={(e) => update({ grayscale: e.target.checked })} />
              Grayscale
            </label>
          </div>
        )}
        <div className="fields">
          <NumberField label="Epochs" name="epochs" step="1" value={form.epochs} schema={schema} onChange={(v) => update({ epochs: v })} />
          <NumberField label="Batch size" name="batch_size" step="1" value={form.batchSize} schema={schema} onChange={(v) => update({ batchSize: v })} />
          <NumberField label="Learning rate" name="learning_rate" step="any" value={form.learningRate} schema={schema} onChange={(v) => update({ learningRate: v })} />
          <NumberField
            label="Validation split"
            name="validation_split"
            step="0.05"
            value={form.validationSplit}
            schema={schema}
            onChange={(v) => update({ validationSplit: v })}
          />
          <NumberField label="Seed" name="seed" step="1" value={form.seed} schema={schema} onChange={(v) => update({ seed: v })} />
        </div>
        {!connected && <p className="muted">Connect a wallet with access to this dataset (its provider or a buyer) to request training.</p>}
        {specError && (
          <p className="error" role="alert" data-testid="spec-error">
            {specError}
          </p>
        )}
        <div className="actions">
          <button type="submit" data-testid="prepare-training" disabled={busy || sent || (connected && !usable)}>
            Check the spec and price
          </button>
        </div>
      </form>

      <div className="panel">
        {prepared ? (
          <dl className="facts">
            <dt>Escrow</dt>
            <dd data-testid="training-escrow">{formatCoin(prepared.escrow)}</dd>
            <dt>Spec</dt>
            <dd className="address" data-testid="training-spec-cid">
              {prepared.spec_cid}
            </dd>
          </dl>
        ) : (
          <p className="muted">Check the spec to see what the job escrows before you pay.</p>
        )}
        <div className="actions">
          <button type="button" data-testid="pay-training" disabled={!prepared || !usable || busy || sent} onClick={() => void pay()}>
            Pay and request training
          </button>
        </div>
        <p className="status">
          Request: <span data-testid="tx-status">{tx?.status ?? ""}</span>
          {tx?.hash && <code className="hash"> {tx.hash}</code>}
        </p>
        {txError && (
          <p className="error" role="alert" data-testid="tx-error">
            {txError}
          </p>
        )}
        {jobId && (
          <p>
            <Link data-testid="job-link" href={`/job/?id=${jobId}&chain=${dataset.chain_id}`}>
              Follow job #{jobId}
            </Link>
          </p>
        )}
      </div>
    </>
  );
}
