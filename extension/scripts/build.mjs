// Bundles the extension host code (out/extension.js, CommonJS for VS Code) and the Models view's webview script
// with the shared tree component and its CSS (media/webview.js, media/webview.css), and writes the translations
// of the host's texts (l10n/bundle.l10n.<language>.json, for vscode.l10n) from the catalogue in src/i18n.
import { build } from "esbuild";
import { build as buildCatalogues } from "../../scripts/i18n.mjs";

buildCatalogues();

const production = !process.argv.includes("--dev");
const common = { bundle: true, minify: production, sourcemap: production ? false : "inline", legalComments: "none", logLevel: "info" };

await Promise.all([
  build({
    ...common,
    entryPoints: { extension: "src/extension.ts" },
    outdir: "out",
    platform: "node",
    format: "cjs",
    target: "node18",
    external: ["vscode"],
  }),
  build({
    ...common,
    entryPoints: { webview: "webview/main.ts" },
    outdir: "media",
    platform: "browser",
    format: "iife",
    target: "es2020",
  }),
]);
