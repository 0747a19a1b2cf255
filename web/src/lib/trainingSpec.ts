// The training spec builder's pure parts: which columns suit which role and which model
// kinds suit the dataset (as the API's workers/training/columns.py judges them), the
// defaults and bounds of the spec's JSON Schema (GET /training-specs/schema), and the
// form's values as a spec document.
import type { ColumnProfile, TrainingSpec } from "./api";

/** pyarrow type names whose values cast to float64 (a bool is 0.0 / 1.0). */
const NUMERIC = /^(u?int(8|16|32|64)|halffloat|float|double|decimal(32|64|128|256)\(.*\))$/;
const INTEGER = /^u?int(8|16|32|64)$/;
const TEXT = new Set(["string", "large_string", "string_view", "utf8", "large_utf8"]);

/** The type of an image archive's `image` column (common/documents.py IMAGE_COLUMN_TYPE). */
const IMAGE = "image";

export type Task = TrainingSpec["task"];
export type Framework = TrainingSpec["framework"];
export type ModelKind = "linear" | "mlp" | "text_embedding" | "cnn";
/** What a model kind reads: numeric columns, one text column, or the images. */
export type InputKind = "table" | "text" | "image";

export const FRAMEWORKS: { value: Framework; label: string }[] = [
  { value: "pytorch", label: "PyTorch (a .safetensors model)" },
  { value: "tensorflow", label: "TensorFlow (Keras 3, a .keras model)" },
];

export const MODEL_KINDS: { value: ModelKind; label: string; reads: InputKind }[] = [
  { value: "mlp", label: "MLP (hidden layers with ReLU)", reads: "table" },
  { value: "linear", label: "Linear", reads: "table" },
  { value: "text_embedding", label: "Text embedding (bag of hashed words)", reads: "text" },
  { value: "cnn", label: "CNN (small convolutional network)", reads: "image" },
];

export const readsOf = (kind: ModelKind): InputKind => MODEL_KINDS.find((k) => k.value === kind)?.reads ?? "table";

export const isFeatureType = (type: string): boolean => type === "bool" || NUMERIC.test(type);

/** Whether a column of `type` can be a feature of a model that reads `reads`. */
export function fitsInput(reads: InputKind, type: string): boolean {
  if (reads === "text") return TEXT.has(type);
  if (reads === "image") return type === IMAGE;
  return isFeatureType(type);
}

/** Whether a column of `type` can be the target of `task`. */
export function isTargetType(task: Task, type: string): boolean {
  if (task === "regression") return NUMERIC.test(type);
  return type === "bool" || TEXT.has(type) || INTEGER.test(type);
}

/**
 * The model kinds this dataset's columns can feed: a CNN for an image archive (its `image`
 * column), a text embedding when a text column has another column to classify by, linear
 * and MLP when a numeric column exists.
 */
export function fittingKinds(columns: ColumnProfile[]): ModelKind[] {
  const fits = (reads: InputKind) =>
    columns.some((c) => fitsInput(reads, c.type) && columns.some((t) => t.name !== c.name && isTargetType("classification", t.type)));
  return MODEL_KINDS.filter((k) => (k.reads === "table" ? columns.some((c) => isFeatureType(c.type)) : fits(k.reads))).map((k) => k.value);
}

/** The form's values: numbers stay text until the spec is built, so a half-typed value
 * reaches the API (which says what is wrong with it) instead of being silently fixed. */
export type SpecForm = {
  framework: Framework;
  task: Task;
  target: string;
  features: string[];
  modelKind: ModelKind;
  hiddenSizes: string;
  vocabSize: string;
  embeddingDim: string;
  maxTokens: string;
  imageSize: string;
  channels: string;
  grayscale: boolean;
  epochs: string;
  batchSize: string;
  learningRate: string;
  validationSplit: string;
  seed: string;
};

/** A JSON Schema property's numeric facts (what `model_json_schema()` writes). */
export type Bounds = { default?: number; minimum?: number; maximum?: number; exclusiveMinimum?: number };
type ObjectSchema = { properties?: Record<string, Bounds & { const?: unknown }> };
/** The spec's schema; the model kinds' schemas are in `$defs` (pydantic's layout). */
export type SpecSchema = ObjectSchema & { $defs?: Record<string, ObjectSchema> };

const FALLBACK: Record<string, number> = {
  epochs: 10,
  batch_size: 32,
  learning_rate: 0.01,
  validation_split: 0.2,
  seed: 0,
  vocab_size: 4096,
  embedding_dim: 16,
  max_tokens: 64,
  image_size: 16,
};

/** The schema of model kind `kind` (the `$defs` entry whose `kind` is that constant). */
function modelSchema(schema: SpecSchema | undefined, kind: ModelKind): ObjectSchema | undefined {
  return Object.values(schema?.$defs ?? {}).find((d) => d.properties?.kind?.const === kind);
}

/** The schema's bounds of numeric field `name`, of the spec or (given `kind`) of that model
 * kind (empty when the schema has none). */
export function boundsOf(schema: SpecSchema | undefined, name: string, kind?: ModelKind): Bounds {
  const object = kind ? modelSchema(schema, kind) : schema;
  return object?.properties?.[name] ?? {};
}

function defaultOf(schema: SpecSchema | undefined, name: string, kind?: ModelKind): string {
  return String(boundsOf(schema, name, kind).default ?? FALLBACK[name]);
}

/** The features a model of `kind` starts with: every fitting column but the target for a
 * table model, the first fitting one for a text or image model (which read exactly one). */
export function featuresFor(kind: ModelKind, columns: ColumnProfile[], target: string): string[] {
  const reads = readsOf(kind);
  const fitting = columns.filter((c) => c.name !== target && fitsInput(reads, c.type)).map((c) => c.name);
  return reads === "table" ? fitting : fitting.slice(0, 1);
}

/** The kind a dataset suggests: a CNN for images, a text embedding for a text dataset (a
 * text column and no numeric one), else a small MLP. */
function suggestedKind(columns: ColumnProfile[]): ModelKind {
  const kinds = fittingKinds(columns);
  if (kinds.includes("cnn")) return "cnn";
  if (kinds.includes("text_embedding") && !kinds.includes("mlp")) return "text_embedding";
  return "mlp";
}

/**
 * Sensible first values: classify the last text-like column when there is one (the usual
 * place of a label), else regress the last numeric one; the suggested model kind with the
 * columns it can read as features (a text model: the first other text column); PyTorch;
 * the schema's defaults for the model's and the optimisation settings.
 */
export function initialForm(columns: ColumnProfile[], schema: SpecSchema | undefined): SpecForm {
  const modelKind = suggestedKind(columns);
  const labels = [...columns].reverse().filter((c) => isTargetType("classification", c.type) && !NUMERIC.test(c.type));
  // A text model's label is a text column other than the one it reads: the last of them.
  const label = modelKind === "text_embedding" ? labels.find((c) => columns.some((f) => f.name !== c.name && TEXT.has(f.type))) : labels[0];
  const numeric = [...columns].reverse().find((c) => isTargetType("regression", c.type));
  const task: Task = label || !numeric || modelKind !== "mlp" ? "classification" : "regression";
  const target = (label ?? numeric ?? columns[columns.length - 1])?.name ?? "";
  return {
    framework: "pytorch",
    task,
    target,
    features: featuresFor(modelKind, columns, target),
    modelKind,
    hiddenSizes: "16",
    vocabSize: defaultOf(schema, "vocab_size", "text_embedding"),
    embeddingDim: defaultOf(schema, "embedding_dim", "text_embedding"),
    maxTokens: defaultOf(schema, "max_tokens", "text_embedding"),
    imageSize: defaultOf(schema, "image_size", "cnn"),
    channels: "8, 16",
    grayscale: false,
    epochs: defaultOf(schema, "epochs"),
    batchSize: defaultOf(schema, "batch_size"),
    learningRate: defaultOf(schema, "learning_rate"),
    validationSplit: defaultOf(schema, "validation_split"),
    seed: defaultOf(schema, "seed"),
  };
}

/** "16, 8" → [16, 8] (hidden sizes, CNN channels); a token that is not a number goes through as NaN (null in JSON),
 * for the API to name. */
function sizes(text: string): number[] {
  return text
    .split(/[\s,]+/)
    .filter((t) => t !== "")
    .map((t) => (/^[0-9]+$/.test(t) ? Number(t) : Number.NaN));
}

const num = (text: string): number => (text.trim() === "" ? Number.NaN : Number(text));

/** The model part of the spec: the chosen kind with its own fields only. */
function modelOf(form: SpecForm): NonNullable<TrainingSpec["model"]> {
  switch (form.modelKind) {
    case "mlp":
      return { kind: "mlp", hidden_sizes: sizes(form.hiddenSizes) };
    case "text_embedding":
      return { kind: "text_embedding", vocab_size: num(form.vocabSize), embedding_dim: num(form.embeddingDim), max_tokens: num(form.maxTokens) };
    case "cnn":
      return { kind: "cnn", image_size: num(form.imageSize), channels: sizes(form.channels), grayscale: form.grayscale };
    default:
      return { kind: "linear", hidden_sizes: [] };
  }
}

/** The spec document the form describes (validated by the API, not here). */
export function specOf(form: SpecForm): TrainingSpec {
  return {
    schema_version: 1,
    framework: form.framework,
    task: form.task,
    target: form.target,
    features: form.features,
    model: modelOf(form),
    epochs: num(form.epochs),
    batch_size: num(form.batchSize),
    learning_rate: num(form.learningRate),
    validation_split: num(form.validationSplit),
    seed: num(form.seed),
  };
}
