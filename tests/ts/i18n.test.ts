import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Gettext } from "@jupyterlab/translation/lib/gettext";
import { check, hostCatalogues, LANGUAGES, loadCatalogue } from "../../scripts/i18n.mjs";
import { __, _n, _p, catalogueBundle, locale, matchLanguage, setLanguage, strfmt } from "../../src/tree/i18n";
import type { Language } from "../../src/i18n/catalog";

afterEach(() => void setLanguage("en"));

describe("the catalogue", () => {
  it("holds every translated text of the three front ends, in Turkish and Portuguese, and nothing unused", () => {
    expect(check()).toEqual([]);
  });

  it("reads in JupyterLab's own Gettext exactly as in the widget's and VS Code's bundle", () => {
    // The sidebar's texts come from JupyterLab's TranslationManager over the catalogue the server serves; the
    // widget and the webview use catalogueBundle. Both must give the same text for every message.
    const { entries } = loadCatalogue();
    for (const language of LANGUAGES as Language[]) {
      const { jed } = hostCatalogues(language);
      const header = jed[""] as { language: string; domain: string; plural_forms: string };
      // As TranslationManager makes it: the locale as "tr-TR", the header as the server sends it.
      const gettext = new Gettext({ domain: "paramscope", locale: language.replace("_", "-") });
      gettext.loadJSON({ ...jed, "": { ...header, pluralForms: header.plural_forms } }, "paramscope");
      const ours = catalogueBundle(language);
      for (const [key, { entry }] of entries) {
        if (!(key in jed)) continue;
        const [context, msgid] = key.includes("\u0004") ? key.split("\u0004") as [string, string] : ["", key];
        if (typeof entry["plural"] === "string") {
          for (const n of [0, 1, 2, 5, 21]) {
            expect(ours._n(msgid, entry["plural"], n, "A", "B")).toBe(gettext._n(msgid, entry["plural"], n, "A", "B"));
          }
        } else if (context !== "") {
          expect(ours._p(context, msgid, "A", "B", "C")).toBe(gettext._p(context, msgid, "A", "B", "C"));
        } else {
          expect(ours.__(msgid, "A", "B", "C")).toBe(gettext.__(msgid, "A", "B", "C"));
        }
      }
    }
  });
});

describe("the scanner", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "ps-i18n-"));
    for (const dir of ["src/tree", "src/i18n", "extension/src", "extension/webview"]) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, "package.json"), JSON.stringify({ version: "1.0.0" }));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const files = (code: string, catalogue: unknown, host = "") => {
    writeFileSync(join(root, "src/tree/A.ts"), code);
    writeFileSync(join(root, "extension/src/host.ts"), host);
    writeFileSync(join(root, "src/i18n/a.json"), JSON.stringify(catalogue));
  };

  it("accepts a complete catalogue", () => {
    files(`__("Refresh"); _n("%1 row", "%1 rows", n); _p("verb", 'Watch'); __(\`Undo\`)`, {
      Refresh: { tr_TR: "Yenile", pt_BR: "Atualizar" },
      "%1 row": { plural: "%1 rows", tr_TR: ["%1 satır", "%1 satır"], pt_BR: ["%1 linha", "%1 linhas"] },
      "verb\u0004Watch": { tr_TR: "İzle", pt_BR: "Monitorar" },
      Undo: { tr_TR: "Geri al", pt_BR: "Desfazer" },
    }, `vscode.l10n.t("Open {0}", name)`);
    writeFileSync(join(root, "src/i18n/vscode.json"), JSON.stringify({ "Open {0}": { tr_TR: "{0} aç", pt_BR: "Abrir {0}" } }));
    expect(check(root)).toEqual([]);
    expect(hostCatalogues("tr_TR", root).vscode).toEqual({ "Open {0}": "{0} aç" });
    expect(hostCatalogues("tr_TR", root).jed["%1 row"]).toEqual(["%1 satır", "%1 satır"]);
  });

  it("finds missing, partial, unused and mismatched messages, and texts it cannot read", () => {
    files(`__("Missing"); __(label); __(\`a \${b}\`); _n("%1 row", "%1 rows", n); __("Placed %1")`, {
      "%1 row": { tr_TR: "%1 satır", pt_BR: "%1 linha" },
      "Placed %1": { tr_TR: "Yerleştirildi", pt_BR: "Colocado %1" },
      Unused: { tr_TR: "x", pt_BR: "y" },
    });
    const problems = check(root).join("\n");
    expect(problems).toContain(`"Missing" is in no catalogue`);
    expect(problems).toContain("__(…) needs string literals");
    expect(problems.match(/needs string literals/g)).toHaveLength(2);
    expect(problems).toContain(`the catalogue's plural is undefined, the code's "%1 rows"`);
    expect(problems).toContain(`"Placed %1": tr_TR has placeholders {}, English {1}`);
    expect(problems).toContain(`a.json: "Unused" is used by no code`);
  });
});

describe("the translator", () => {
  it("formats like JupyterLab's strfmt", () => {
    expect(strfmt("%1 of %2, %1 again; 100%% sure", "a", 2)).toBe("a of 2, a again; 100% sure");
    expect(strfmt("%1 of %2, %1", "x", "y")).toBe(Gettext.strfmt("%1 of %2, %1", "x", "y"));
  });

  it("matches the language codes each host gives", () => {
    for (const code of ["tr", "tr-TR", "tr_TR", "TR-tr"]) expect(matchLanguage(code)).toBe("tr_TR");
    for (const code of ["pt", "pt-BR", "pt_BR", "pt-br"]) expect(matchLanguage(code)).toBe("pt_BR");
    for (const code of ["en", "en-US", "de-DE", "", null, undefined]) expect(matchLanguage(code)).toBe("en");
  });

  it("falls back to English, with English plurals, and sets the number locale", () => {
    expect(setLanguage("en-US")).toBe("en");
    expect(__("No such text %1", 3)).toBe("No such text 3");
    expect(_n("%1 row", "%1 rows", 1)).toBe("1 row");
    expect(_n("%1 row", "%1 rows", 0)).toBe("0 rows");
    expect(_p("verb", "Watch %1", "x")).toBe("Watch x");
    expect(locale()).toBe("en");
    expect(setLanguage("pt-br")).toBe("pt_BR");
    expect(locale()).toBe("pt-BR");
    expect(__("No such text %1", 3)).toBe("No such text 3");
    setLanguage("tr");
    expect(locale()).toBe("tr-TR");
  });
});
