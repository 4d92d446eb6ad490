/** The translator every string of the UI goes through. The JupyterLab sidebar hands in ITranslator's bundle for
 * "paramscope"; the widget and the VS Code view pick the bundled catalogue (src/i18n) for their language. Numbers
 * shown by format.ts follow the same locale. One language per page: hosts set it before building an explorer. */

import { catalogue, type Language, LANGUAGES } from "../i18n/catalog";

/** What JupyterLab's TranslationBundle offers, so its bundle is used as it is. */
export interface TranslationBundle {
  __(msgid: string, ...args: unknown[]): string;
  _n(msgid: string, msgidPlural: string, n: number, ...args: unknown[]): string;
  _p(msgctxt: string, msgid: string, ...args: unknown[]): string;
}

/** JupyterLab's `Gettext.strfmt`: `%1`, `%2` … are the arguments by position; `%%` is a literal `%`. */
export function strfmt(fmt: string, ...args: unknown[]): string {
  return fmt
    .replace(/%%/g, "%% ")
    .replace(/%(\d+)/g, (_match, index: string) => String(args[Number(index) - 1]))
    .replace(/%% /g, "%");
}

/** The plural form index of each catalogue language, as its catalogue header's `plural_forms` states it. */
export const PLURAL_FORMS: Record<Language, { header: string; index: (n: number) => number }> = {
  tr_TR: { header: "nplurals=2; plural=(n != 1);", index: (n) => (n !== 1 ? 1 : 0) },
  pt_BR: { header: "nplurals=2; plural=(n > 1);", index: (n) => (n > 1 ? 1 : 0) },
};

/** The context separator of gettext catalogues (msgctxt + EOT + msgid). */
export const CONTEXT = "\u0004";

const english: TranslationBundle = {
  __: (msgid, ...args) => strfmt(msgid, ...args),
  _n: (msgid, plural, n, ...args) => strfmt(n === 1 ? msgid : plural, n, ...args),
  _p: (_context, msgid, ...args) => strfmt(msgid, ...args),
};

/** A bundle over the bundled catalogue of `language`; a msgid it lacks falls back to English. */
export function catalogueBundle(language: Language | "en"): TranslationBundle {
  if (language === "en") return english;
  const entries = catalogue(language);
  const plural = PLURAL_FORMS[language].index;
  const find = (key: string, forms: number): string[] | null => {
    const found = entries.get(key);
    return found !== undefined && (forms === 1 ? found.length === 1 : found.length > 1) ? found : null;
  };
  return {
    __: (msgid, ...args) => strfmt(find(msgid, 1)?.[0] ?? msgid, ...args),
    _n: (msgid, msgidPlural, n, ...args) => {
      const forms = find(msgid, 2);
      const text = forms === null ? (n === 1 ? msgid : msgidPlural) : (forms[plural(n)] ?? forms[0]!);
      return strfmt(text, n, ...args);
    },
    _p: (context, msgid, ...args) => strfmt(find(context + CONTEXT + msgid, 1)?.[0] ?? msgid, ...args),
  };
}

/** "tr", "tr-TR", "tr_TR" -> "tr_TR"; "pt", "pt-BR" -> "pt_BR"; anything else -> "en". */
export function matchLanguage(code: string | null | undefined): Language | "en" {
  const lower = (code ?? "").trim().toLowerCase().replace("_", "-");
  for (const language of LANGUAGES) {
    const [base, region] = language.toLowerCase().split("_") as [string, string];
    if (lower === base || lower === `${base}-${region}`) return language;
  }
  return "en";
}

let bundle: TranslationBundle = english;
let current = "en";

/** Hand in a bundle (JupyterLab's) and the BCP 47 locale its numbers are formatted in ("tr-TR"). */
export function setTranslator(translator: TranslationBundle, localeCode: string): void {
  bundle = translator;
  current = toBcp47(localeCode);
}

/** Pick the bundled catalogue for a language code ("tr", "pt-BR", "en-US"); returns the language chosen. */
export function setLanguage(code: string | null | undefined): Language | "en" {
  const language = matchLanguage(code);
  setTranslator(catalogueBundle(language), language === "en" ? "en" : language);
  return language;
}

/** The BCP 47 locale numbers are formatted in ("en", "tr-TR", "pt-BR"). */
export function locale(): string {
  return current;
}

function toBcp47(code: string): string {
  const tag = code.trim().replace("_", "-");
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? "en";
  } catch {
    return "en";
  }
}

/** Translate `msgid`; `%1`, `%2` … are replaced by `args`. */
export function __(msgid: string, ...args: unknown[]): string {
  return bundle.__(msgid, ...args);
}

/** Translate a count-dependent text: `%1` is `n`, further args are `%2` …. */
export function _n(msgid: string, msgidPlural: string, n: number, ...args: unknown[]): string {
  return bundle._n(msgid, msgidPlural, n, ...args);
}

/** Translate `msgid` in a context, when one English text needs two translations. */
export function _p(msgctxt: string, msgid: string, ...args: unknown[]): string {
  return bundle._p(msgctxt, msgid, ...args);
}
