// Typed access to the Datacoin API on this origin. Every response type comes from the
// generated OpenAPI types (src/api/schema.d.ts, `make openapi`).
import type { components } from "@/api/schema";

export type Schemas = components["schemas"];
export type Dataset = Schemas["Dataset"];
export type DatasetDetail = Schemas["DatasetDetail"];
export type DatasetPage = Schemas["DatasetPage"];
export type Preview = Schemas["Preview"];
export type Deployment = Schemas["DeploymentInfo"];
export type Nonce = Schemas["Nonce"];
export type Session = Schemas["Session"];
export type ProblemBody = Schemas["ProblemBody"];
export type UploadResult = Schemas["UploadResult"];
export type Purchase = Schemas["Purchase"];
export type ColumnProfile = Schemas["ColumnProfile"];
export type TrainingSpec = Schemas["TrainingSpec"];
export type TrainingSpecResult = Schemas["TrainingSpecResult"];
export type TrainingJobDetail = Schemas["TrainingJobDetail"];

/** An answer with an error status: its problem+json `code` when it has one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
  /** The API itself is down or unreachable (not a refusal of this request). */
  get unavailable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

/** The absolute or relative URL of an API path (the API serves this site: same origin). */
export const apiUrl = (path: string): string => path;

export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") search.set(k, String(v));
  const s = search.toString();
  return s ? `?${s}` : "";
}

async function failure(reply: Response): Promise<ApiError> {
  let code: string | null = null;
  let detail = `${reply.status} ${reply.statusText}`;
  try {
    const body = (await reply.json()) as Partial<ProblemBody> & { code?: string };
    code = body.code ?? null;
    if (body.detail) detail = body.detail;
  } catch {
    /* not JSON */
  }
  return new ApiError(reply.status, code, detail);
}

/** fetch() an API path; ApiError(0) when the API cannot be reached at all. */
export async function request(path: string, init?: RequestInit): Promise<Response> {
  let reply: Response;
  try {
    reply = await fetch(apiUrl(path), init);
  } catch (err) {
    throw new ApiError(0, "network", `the API does not answer (${(err as Error).message})`);
  }
  if (!reply.ok) throw await failure(reply);
  return reply;
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const reply = await request(path, { ...init, headers: { Accept: "application/json", ...init?.headers } });
  return (await reply.json()) as T;
}

export async function postJson<T>(path: string, body: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const reply = await request(path, { method: "POST", headers, body: JSON.stringify(body) });
  return reply.status === 204 ? (undefined as T) : ((await reply.json()) as T);
}
