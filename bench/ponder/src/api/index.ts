// Ponder requires an API file; the benchmark only uses the built-in /health and /ready.
import { Hono } from "hono";

export default new Hono();
