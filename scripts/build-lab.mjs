// Builds the prebuilt JupyterLab extension: tsc compiles src/lab (and the shared tree it imports) into lib/,
// then @jupyter/builder (rspack, module federation) writes kernel_helpers/paramscope/labextension/.
// `--development` keeps the bundle unminified with source maps.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname } from "node:path";

const require = createRequire(import.meta.url);
const development = process.argv.includes("--development");
const run = (script, args) => execFileSync(process.execPath, [script, ...args], { stdio: "inherit" });

// The sidebar's catalogues, which the JupyterLab server serves to ITranslator (see scripts/i18n.mjs).
run("scripts/i18n.mjs", ["build"]);
run(require.resolve("typescript/bin/tsc"), ["-p", "tsconfig.lab.json"]);
const builder = require.resolve("@jupyter/builder/lib/build-labextension.js");
// The shared-module metadata (singletons, core versions) of the JupyterLab release the builder targets.
const core = require.resolve("@jupyterlab/core-meta/core.package.json", { paths: [dirname(builder)] });
run(builder, ["--core-package-file", core, ...(development ? ["--development"] : []), "."]);
