/** The bundled catalogue: every area's messages, merged, for the widget and the VS Code view (the sidebar gets the
 * same messages from the JupyterLab server, written from these files by `node scripts/i18n.mjs build`). */

import compare from "./compare.json";
import explorer from "./explorer.json";
import forms from "./forms.json";
import lab from "./lab.json";
import placement from "./placement.json";
import search from "./search.json";
import stats from "./stats.json";
import treemap from "./treemap.json";
import watch from "./watch.json";
import webview from "./webview.json";
import widget from "./widget.json";

export const LANGUAGES = ["tr_TR", "pt_BR"] as const;
export type Language = (typeof LANGUAGES)[number];

/** One message: a translation per language; a plural message has `plural` and an array of forms. */
export type Entry = { plural?: string } & Partial<Record<Language, string | string[]>>;

// vscode.json is the extension host's (vscode.l10n); it never reaches a page.
const AREAS: Record<string, Entry>[] = [explorer, forms, stats, watch, search, compare, treemap, placement, lab,
  widget, webview];

const cache = new Map<Language, Map<string, string[]>>();

/** msgid (or context + U+0004 + msgid) -> its forms in `language`. */
export function catalogue(language: Language): Map<string, string[]> {
  let entries = cache.get(language);
  if (entries === undefined) {
    entries = new Map();
    for (const area of AREAS) {
      for (const [key, entry] of Object.entries(area)) {
        const text = entry[language];
        if (text !== undefined && text !== "") entries.set(key, Array.isArray(text) ? text : [text]);
      }
    }
    cache.set(language, entries);
  }
  return entries;
}
