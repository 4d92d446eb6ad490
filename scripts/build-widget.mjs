// Bundles the inline widget (src/widget.ts and its CSS) into the Python package's static/ folder as one ES module.
import { build } from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: { widget: "src/widget.ts" },
  outdir: "kernel_helpers/paramscope/static",
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  logLevel: "info",
};

if (watch) {
  const { context } = await import("esbuild");
  await (await context(options)).watch();
} else {
  await build(options);
}
