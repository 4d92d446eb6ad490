/** Entry point: registers the Models view and the paramscope commands; everything goes into context.subscriptions. */

import * as vscode from "vscode";
import { ModelsViewProvider } from "./ModelsViewProvider";

export function activate(context: vscode.ExtensionContext): void {
  const provider = new ModelsViewProvider(context.extensionUri);
  context.subscriptions.push(
    provider,
    vscode.window.registerWebviewViewProvider(ModelsViewProvider.viewType, provider,
      { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand("paramscope.revealModel", () => provider.revealModel()),
    vscode.commands.registerCommand("paramscope.refresh", () => provider.refresh()),
  );
}

export function deactivate(): void {}
