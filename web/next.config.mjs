// A static export: `datacoin serve` serves web/out at / on the API's origin. Runtime
// configuration (chain, contracts) comes from GET /deployment, never from the build.
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const config = {
  output: "export",
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
  turbopack: { root: here },
  outputFileTracingRoot: here,
};

export default config;
