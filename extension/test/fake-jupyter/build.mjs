// Packages the Jupyter-API test fake as a .vsix into the folder given as the first argument (UI test only).
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createVSIX } from "@vscode/vsce";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2];
if (!out) throw new Error("usage: node build.mjs <output folder>");
const dir = join(out, "fake-jupyter");
mkdirSync(dir, { recursive: true });
await build({
  entryPoints: [join(here, "extension.ts")],
  outfile: join(dir, "extension.js"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  external: ["vscode"],
  logLevel: "warning",
});
for (const file of ["package.json", "README.md"]) copyFileSync(join(here, file), join(dir, file));
await createVSIX({ cwd: dir, packagePath: join(out, "fake-jupyter.vsix"), dependencies: false, allowMissingRepository: true, skipLicense: true });
