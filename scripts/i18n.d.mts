// Types of scripts/i18n.mjs, for the tests that run its checks.
export const ROOT: string;
export const LANGUAGES: string[];
export interface Message { key: string; msgid: string; plural?: string; context?: string; kind: "page" | "vscode"; where: string }
export function extract(root?: string): { messages: Message[]; problems: string[] };
export function loadCatalogue(root?: string): { entries: Map<string, { entry: Record<string, unknown>; area: string }>; problems: string[] };
export function check(root?: string): string[];
export function hostCatalogues(language: string, root?: string): { jed: Record<string, unknown>; vscode: Record<string, string> };
export function build(root?: string): string[];
