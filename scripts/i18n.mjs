// The translation catalogue's tool. `check` scans the front ends for every translated text and reports what a
// catalogue lacks; `build` writes the catalogue in the shapes the hosts load: JupyterLab's (one gettext JSON per
// language in the Python package, served by the JupyterLab server to ITranslator) and VS Code's (l10n bundles for
// the extension host's vscode.l10n.t). The source is src/i18n/<area>.json, one file per part of the UI.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const LANGUAGES = ["tr_TR", "pt_BR"];
const PLURAL_FORMS = { tr_TR: "nplurals=2; plural=(n != 1);", pt_BR: "nplurals=2; plural=(n > 1);" };
const VSCODE_LANGUAGES = { tr_TR: "tr", pt_BR: "pt-br" };
const CONTEXT = "\u0004";
// Where translated texts are: the shared tree, the hosts' glue, the VS Code extension (host and webview).
const SOURCES = ["src", "extension/src", "extension/webview"];
// The translator itself, whose functions pass their arguments on.
const SKIP = new Set(["src/tree/i18n.ts"]);
// Extension host texts go through vscode.l10n.t with {0} placeholders; the rest through __/_n/_p with %1.
const CALL = /(?<![\w$])(?:l10n\.t|__|_n|_p)\(/g;

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.ts$/.test(name) && !/\.d\.ts$/.test(name)) out.push(path);
  }
  return out;
}

// Reads the string literal at `at` ("…", '…' or a `…` without ${}); returns [text, end] or null.
function literal(text, at) {
  const quote = text[at];
  if (quote !== '"' && quote !== "'" && quote !== "`") return null;
  let out = "";
  for (let i = at + 1; i < text.length; i++) {
    const c = text[i];
    if (c === quote) return [out, i + 1];
    if (quote === "`" && c === "$" && text[i + 1] === "{") return null;
    if (c === "\\") {
      const e = text[++i];
      if (e === "n") out += "\n";
      else if (e === "t") out += "\t";
      else if (e === "u") {
        const braced = text[i + 1] === "{";
        const hex = braced ? text.slice(i + 2, text.indexOf("}", i)) : text.slice(i + 1, i + 5);
        out += String.fromCodePoint(parseInt(hex, 16));
        i += braced ? hex.length + 2 : 4;
      } else if (e === "\n") continue;
      else out += e;
    } else out += c;
  }
  return null;
}

function skipSpace(text, at) {
  while (at < text.length && /\s/.test(text[at])) at++;
  return at;
}

/** Every translated text of the front ends: {key, msgid, plural, context, kind, where}, and the calls whose
 * texts are not literals (which no catalogue can hold). */
export function extract(root = ROOT) {
  const messages = [];
  const problems = [];
  for (const source of SOURCES) {
    for (const path of walk(join(root, source), [])) {
      const file = relative(root, path).split("\\").join("/");
      if (SKIP.has(file)) continue;
      const text = readFileSync(path, "utf8");
      for (const match of text.matchAll(CALL)) {
        const name = match[0].slice(0, -1);
        const line = text.slice(0, match.index).split("\n").length;
        const where = `${file}:${line}`;
        // A declaration (`function __(`, `_n(msgid: string`) is not a call.
        if (/(?:function|def)\s+$/.test(text.slice(Math.max(0, match.index - 12), match.index))) continue;
        const count = name === "_n" || name === "_p" ? 2 : 1;
        const texts = [];
        let at = match.index + match[0].length;
        for (let k = 0; k < count; k++) {
          at = skipSpace(text, at);
          const found = literal(text, at);
          if (found === null) break;
          texts.push(found[0]);
          at = skipSpace(text, found[1]);
          if (k < count - 1) {
            if (text[at] !== ",") break;
            at++;
          }
        }
        if (texts.length < count) {
          problems.push(`${where}: ${name}(…) needs string literals (a scanner must read its text)`);
          continue;
        }
        const kind = name === "l10n.t" ? "vscode" : "page";
        if (name === "_n") messages.push({ key: texts[0], msgid: texts[0], plural: texts[1], kind, where });
        else if (name === "_p") messages.push({ key: texts[0] + CONTEXT + texts[1], msgid: texts[1], context: texts[0], kind, where });
        else messages.push({ key: texts[0], msgid: texts[0], kind, where });
      }
    }
  }
  return { messages, problems };
}

/** The catalogue: key -> {entry, area}, and conflicting duplicates between areas. */
export function loadCatalogue(root = ROOT) {
  const dir = join(root, "src/i18n");
  const entries = new Map();
  const problems = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".json")).sort()) {
    const area = name.replace(/\.json$/, "");
    const data = JSON.parse(readFileSync(join(dir, name), "utf8"));
    for (const [key, entry] of Object.entries(data)) {
      const before = entries.get(key);
      if (before !== undefined && JSON.stringify(before.entry) !== JSON.stringify(entry)) {
        problems.push(`"${show(key)}" is in ${before.area}.json and ${area}.json with different texts`);
      }
      if (before === undefined) entries.set(key, { entry, area });
    }
  }
  return { entries, problems };
}

function show(key) {
  return key.replace(CONTEXT, " | ");
}

function placeholders(text, kind) {
  const pattern = kind === "vscode" ? /\{(\d+)\}/g : /(?<!%)%(\d+)/g;
  return [...text.matchAll(pattern)].map((m) => m[1]).sort().filter((v, i, a) => a.indexOf(v) === i).join(",");
}

/** Everything that keeps the catalogue from being complete and exact; empty when it is. */
export function check(root = ROOT) {
  const { messages, problems } = extract(root);
  const catalogue = loadCatalogue(root);
  problems.push(...catalogue.problems);
  const used = new Set();
  for (const message of messages) {
    used.add(message.key);
    const found = catalogue.entries.get(message.key);
    const label = `${message.where}: "${show(message.key)}"`;
    if (found === undefined) {
      problems.push(`${label} is in no catalogue (src/i18n/*.json)`);
      continue;
    }
    const { entry } = found;
    if ((entry.plural ?? null) !== (message.plural ?? null)) {
      problems.push(`${label}: the catalogue's plural is ${JSON.stringify(entry.plural)}, the code's ${JSON.stringify(message.plural)}`);
      continue;
    }
    const english = placeholders(message.msgid + " " + (message.plural ?? ""), message.kind);
    for (const language of LANGUAGES) {
      const text = entry[language];
      const forms = Array.isArray(text) ? text : [text];
      if (text === undefined || forms.some((f) => typeof f !== "string" || f.trim() === "")) {
        problems.push(`${label} has no ${language} translation`);
      } else if (message.plural !== undefined && forms.length !== 2) {
        problems.push(`${label}: ${language} needs 2 plural forms`);
      } else if (message.plural === undefined && Array.isArray(text)) {
        problems.push(`${label}: ${language} is a list, but the text is not plural`);
      } else if (placeholders(forms.join(" "), message.kind) !== english) {
        problems.push(`${label}: ${language} has placeholders {${placeholders(forms.join(" "), message.kind)}}, English {${english}}`);
      }
    }
  }
  for (const [key, { area }] of catalogue.entries) {
    if (!used.has(key)) problems.push(`${area}.json: "${show(key)}" is used by no code`);
  }
  return problems;
}

// What every language's host catalogues are made from: the catalogue, which hosts use each text, the version.
function sources(root) {
  const { messages } = extract(root);
  const { entries } = loadCatalogue(root);
  // A text used both by the pages and by the VS Code host (l10n.t) goes to both catalogues.
  const kinds = new Map();
  for (const m of messages) kinds.set(m.key, new Set([...(kinds.get(m.key) ?? []), m.kind]));
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  return { entries, kinds, version };
}

function shaped(language, { entries, kinds, version }) {
  const jed = { "": { domain: "paramscope", language: language.replace("_", "-"), plural_forms: PLURAL_FORMS[language], version } };
  const vscode = {};
  for (const [key, { entry }] of entries) {
    const text = entry[language];
    if (text === undefined || text === "") continue;
    const used = kinds.get(key) ?? new Set(["page"]);
    if (used.has("vscode")) vscode[key] = text;
    if (used.has("page")) jed[key] = Array.isArray(text) ? text : [text];
  }
  return { jed, vscode };
}

/** The catalogues of one language in the hosts' shapes: `jed` for JupyterLab (msgid -> forms, with the header
 * JupyterLab reads), `vscode` for an l10n bundle (message -> text). */
export function hostCatalogues(language, root = ROOT) {
  return shaped(language, sources(root));
}

/** Writes the hosts' catalogues; returns the paths written. */
export function build(root = ROOT) {
  const written = [];
  const write = (path, data) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), JSON.stringify(data, null, 1) + "\n");
    written.push(path);
  };
  const from = sources(root); // one scan of the sources for every language
  for (const language of LANGUAGES) {
    const { jed, vscode } = shaped(language, from);
    write(`kernel_helpers/paramscope/locale/${language}/LC_MESSAGES/paramscope.json`, jed);
    write(`extension/l10n/bundle.l10n.${VSCODE_LANGUAGES[language]}.json`, vscode);
  }
  return written;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = process.argv[2];
  if (command === "build") {
    for (const path of build()) console.log(`wrote ${path}`);
  } else if (command === "check") {
    const problems = check();
    for (const problem of problems) console.log(problem);
    console.log(problems.length === 0 ? "catalogue complete" : `${problems.length} problem(s)`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  } else {
    console.error("usage: node scripts/i18n.mjs check|build");
    process.exitCode = 2;
  }
}
