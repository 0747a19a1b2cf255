// The training spec builder's pure parts: which columns suit which role (as the API's
// workers/training/columns.py judges them), the defaults and bounds of the spec's JSON
// Schema (GET /training-specs/schema), and the form's values as a spec document.
import type { ColumnProfile, TrainingSpec } from "./api";

/** pyarrow type names whose values cast to float64 (a bool is 0.0 / 1.0). */
const NUMERIC = /^(u?int(8|16|32|64)|halffloat|float|double|decimal(32|64|128|256)\(.*\))$/;
const INTEGER = /^u?int(8|16|32|64)$/;
const TEXT = new Set(["string", "large_string", "string_view", "utf8", "large_utf8"]);

export type Task = TrainingSpec["task"];
export type ModelKind = "linear" | "mlp";

export const isFeatureType = (type: string): boolean => type === "bool" || NUMERIC.test(type);

/** Whether a column of `type` can be the target of `task`. */
export function isTargetType(task: Task, type: string): boolean {
  if (task === "regression") return NUMERIC.test(type);
  return type === "bool" || TEXT.has(type) || INTEGER.test(type);
}

/** The form's values: numbers stay text until the spec is built, so a half-typed value
 * reaches the API (which says what is wrong with it) instead of being silently fixed. */
export type SpecForm = {
  task: Task;
  target: string;
  features: string[];
  modelKind: ModelKind;
  hiddenSizes: string;
  epochs: string;
  batchSize: string;
  learningRate: string;
  validationSplit: string;
  seed: string;
};

/** A JSON Schema property's numeric facts (what `model_json_schema()` writes). */
export type Bounds = { default?: number; minimum?: number; maximum?: number; exclusiveMinimum?: number };
export type SpecSchema = { properties?: Record<string, Bounds> };

const FALLBACK: Record<string, number> = { epochs: 10, batch_size: 32, learning_rate: 0.01, validation_split: 0.2, seed: 0 };

/** The schema's bounds of numeric field `name` (empty when the schema has none). */
export function boundsOf(schema: SpecSchema | undefined, name: string): Bounds {
  return schema?.properties?.[name] ?? {};
}

function defaultOf(schema: SpecSchema | undefined, name: string): string {
  return String(boundsOf(schema, name).default ?? FALLBACK[name]);
}

/**
 * Sensible first values: classify the last text-like column when there is one (the usual
 * place of a label), else regress the last numeric one; every other numeric column is a
 * feature; the schema's defaults for the optimisation settings; a small MLP.
 */
export function initialForm(columns: ColumnProfile[], schema: SpecSchema | undefined): SpecForm {
  const label = [...columns].reverse().find((c) => isTargetType("classification", c.type) && !NUMERIC.test(c.type));
  const numeric = [...columns].reverse().find((c) => isTargetType("regression", c.type));
  const task: Task = label || !numeric ? "classification" : "regression";
  const target = (label ?? numeric ?? columns[columns.length - 1])?.name ?? "";
  return {
    task,
    target,
    features: columns.filter((c) => c.name !== target && isFeatureType(c.type)).map((c) => c.name),
    modelKind: "mlp",
    hiddenSizes: "16",
    epochs: defaultOf(schema, "epochs"),
    batchSize: defaultOf(schema, "batch_size"),
    learningRate: defaultOf(schema, "learning_rate"),
    validationSplit: defaultOf(schema, "validation_split"),
    seed: defaultOf(schema, "seed"),
  };
}

/** "16, 8" → [16, 8]; a token that is not a number goes through as NaN (null in JSON),
 * for the API to name. */
function sizes(text: string): number[] {
  return text
    .split(/[\s,]+/)
    .filter((t) => t !== "")
    .map((t) => (/^[0-9]+$/.test(t) ? Number(t) : Number.NaN));
}

const num = (text: string): number => (text.trim() === "" ? Number.NaN : Number(text));

/** The spec document the form describes (validated by the API, not here). */
export function specOf(form: SpecForm): TrainingSpec {
  return {
    schema_version: 1,
    framework: "pytorch",
    task: form.task,
    target: form.target,
    features: form.features,
    model: form.modelKind === "mlp" ? { kind: "mlp", hidden_sizes: sizes(form.hiddenSizes) } : { kind: "linear", hidden_sizes: [] },
    epochs: num(form.epochs),
    batch_size: num(form.batchSize),
    learning_rate: num(form.learningRate),
    validation_split: num(form.validationSplit),
    seed: num(form.seed),
  };
}
