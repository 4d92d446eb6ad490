import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The extension's `vscode` imports get the typed fake; the real module exists only inside VS Code.
    alias: { vscode: fileURLToPath(new URL("./test/unit/vscode.fake.ts", import.meta.url)) },
  },
  test: {
    environment: "node",
    globals: true,
    include: ["test/unit/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
