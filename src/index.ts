/** The shared front end, for every host (inline widget, JupyterLab sidebar, VS Code webview). */

export * from "./protocol";
export { ModelExplorer, type ExplorerOptions } from "./tree/ModelExplorer";
export { TreeState, PAGE } from "./tree/TreeState";
export { TreeView, ROW_HEIGHT } from "./tree/TreeView";
export { StatsPanel } from "./tree/StatsPanel";
export { ActionMenu, actionsFor } from "./tree/ActionMenu";
export { ErrorBanner } from "./tree/ErrorBanner";
