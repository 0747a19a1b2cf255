// Runs solcjs on a standard-JSON input read from stdin and prints the standard-JSON output.
// Imports are resolved against the repository root and node_modules, so
// "@openzeppelin/contracts/..." comes from the pinned npm package.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const searchPaths = [root, path.join(root, "node_modules")];

function findImports(importPath) {
  for (const base of searchPaths) {
    const candidate = path.join(base, importPath);
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `import not found: ${importPath}` };
}

const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
process.stderr.write(`solc ${solc.version()}\n`);
