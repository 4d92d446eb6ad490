// Packages the Turkish display-language fixture as a .vsix into the folder given as the first argument (UI test only).
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createVSIX } from "@vscode/vsce";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2];
if (!out) throw new Error("usage: node build.mjs <output folder>");
const dir = join(out, "language-pack-tr");
mkdirSync(dir, { recursive: true });
for (const file of ["package.json", "README.md", "translations"]) cpSync(join(here, file), join(dir, file), { recursive: true });
await createVSIX({ cwd: dir, packagePath: join(out, "language-pack-tr.vsix"), dependencies: false, allowMissingRepository: true, skipLicense: true });
