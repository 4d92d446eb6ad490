"""The front ends in the reader's language (#13), in real JupyterLab with the Turkish language pack chosen in its
user settings (what Settings → Language writes): JupyterLab itself and the paramscope sidebar speak Turkish (the
toolbar's texts are the catalogue's Turkish ones and no English text of the catalogue shows), numbers have a
Turkish decimal comma, and the sidebar still finds the GPT-2-shaped model's 12 attention weights, opens its folded
layers, selects a block from the treemap and shows which layers a training cell moved. The inline widget follows
JupyterLab's language. Then the language is switched to Portuguese (Brazil), as the Language menu does, and the
sidebar and the widget follow; and Notebook 7's sidebar and widget speak Turkish as well."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import ARTIFACTS, STATIC, Server, copy_to_docs, lab_server, notebook
from tests.ui.driver import Notebook
from tests.ui.test_compare_ui import TRAIN, TRAIN_DEF
from tests.ui.test_search_ui import SETUP, WEIGHTS

pytestmark = [pytest.mark.ui, pytest.mark.slow]  # its own JupyterLab server, three pages: ~1.5 min

CATALOGUE = Path(__file__).resolve().parents[2] / "src" / "i18n"
TRANSLATION = "@jupyterlab/translation-extension:plugin"
CELLS = [SETUP + "\n" + TRAIN_DEF, 'import paramscope as ps\nps.show(gpt, name="gpt")', TRAIN,
         'ARMED = True\nprint("CHECK")']
SIDEBAR = "#paramscope-models"


def _pack(language: str) -> dict[str, list[str]]:
    """JupyterLab's own messages in `language`, from the installed language pack."""
    import importlib

    module = importlib.import_module(f"jupyterlab_language_pack_{language}")
    path = Path(module.__file__).parent / "locale" / language / "LC_MESSAGES" / "jupyterlab.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _catalogue(language: str) -> tuple[list[str], list[str]]:
    """The page texts of paramscope's catalogue: (English msgids that read differently in `language`, their
    translations) — every form of a plural, the context stripped; vscode.json is the VS Code host's."""
    english: list[str] = []
    translated: list[str] = []
    for path in sorted(CATALOGUE.glob("*.json")):
        if path.name == "vscode.json":
            continue
        for key, entry in json.loads(path.read_text(encoding="utf-8")).items():
            text = entry[language]
            forms = text if isinstance(text, list) else [text]
            sources = [key.split("\u0004")[-1], *([entry["plural"]] if "plural" in entry else [])]
            translated += forms
            english += [source for source in sources if source not in forms]
    return english, translated


def _pattern(text: str) -> re.Pattern[str]:
    """A catalogue text as a shown text: %1, %2 … stand for anything."""
    parts = re.split(r"%\d+", text.replace("%%", "%"))
    return re.compile("^" + "(.+?)".join(re.escape(p) for p in parts) + "$", re.S)


def _shown_texts(root: Locator) -> list[str]:
    """Every text a user reads under `root`: visible text nodes, and titles, labels and placeholders."""
    return root.evaluate("""root => {
      const out = [];
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent.trim();
        const parent = node.parentElement;
        if (text && parent && parent.getClientRects().length > 0 && getComputedStyle(parent).visibility !== 'hidden') {
          out.push(text);
        }
      }
      for (const el of [root, ...root.querySelectorAll('*')]) {
        for (const name of ['title', 'aria-label', 'placeholder']) {
          const value = el.getAttribute(name);
          if (value && value.trim()) out.push(value.trim());
        }
      }
      return out;
    }""")


def _english_left(texts: list[str], english: list[str]) -> list[str]:
    """The texts that are an English message of the catalogue (one with at least a word besides placeholders)."""
    patterns = [_pattern(e) for e in english if len(re.sub(r"%\d+|[^A-Za-z]", "", e)) >= 3]
    return sorted({t for t in texts for p in patterns if p.match(t)})


# English words that no Turkish text and no name in this model has: a text with one is English the catalogue does
# not know (a string that does not go through the translator).
ENGLISH = {"the", "of", "and", "or", "to", "since", "changed", "same", "take", "snapshot", "compare", "clear", "now",
           "found", "parameters", "params", "bytes", "not", "with", "by", "for", "from", "is", "are", "all", "show",
           "hide", "watch", "refresh", "undo", "history", "fold", "search", "values", "value", "gradient", "every",
           "steps", "blocks", "click", "selects", "moved", "open", "close", "loading", "children", "more"}


def _english_words(texts: list[str]) -> list[str]:
    """The texts with a common English word in them; a path or code (`sum(p.numel() for p in …)`) is data."""
    words = [(t, re.findall(r"[A-Za-z]+", re.sub(r"\w+\(.*\)", " ", t))) for t in texts
             if not re.fullmatch(r"[\w.\[\]'\"()]+", t)]
    return sorted({t for t, found in words if any(w.lower() in ENGLISH for w in found)})


def _is_translated(text: str, translated: list[str]) -> bool:
    return any(_pattern(t).match(text) for t in translated)


def _toolbar_left(explorer: Locator, translated: list[str]) -> list[str]:
    """The explorer toolbar's button titles and labels that are no translated catalogue text (there are some)."""
    buttons = explorer.locator(".jp-ParamScope-toolbar button").evaluate_all("""bs => bs.map(b => [
      b.getAttribute('title') || '', (b.querySelector('.jp-ParamScope-button-label') || {}).textContent || ''])""")
    texts = [text.strip() for pair in buttons for text in pair if text.strip()]
    assert len(texts) >= 8, texts  # history, fold, map, compare, refresh, undo: titles and labels
    return [text for text in texts if not _is_translated(text, translated)]


def _put_language(server: Server, locale: str) -> None:
    """What Settings → Language does: the translation plugin's user setting, through the settings API."""
    body = json.dumps({"raw": json.dumps({"locale": locale})}).encode()
    request = urllib.request.Request(f"{server.url}/lab/api/settings/{TRANSLATION}", data=body, method="PUT",
                                     headers={"Authorization": f"token {server.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204


@pytest.fixture(scope="module")
def turkish_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not STATIC.is_file():
        pytest.fail("the widget bundle is not built: run `make setup` (or `npm run build:widget`)")
    home = tmp_path_factory.mktemp("home-tr")
    root = home / "notebooks"
    root.mkdir()
    (root / "ceviri.ipynb").write_text(json.dumps(notebook(CELLS)))
    with lab_server(home, root, {TRANSLATION: {"locale": "tr_TR"}}) as server:
        yield server


def _open_sidebar(page: Page) -> Locator:
    page.locator(f'.lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]').click()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_be_visible()
    return sidebar


def _run_all(nb: Notebook, pack: dict[str, list[str]]) -> None:
    """Run → Run All Cells, through JupyterLab's menus in the pack's language (English where the pack has none)."""
    nb.menu(pack.get("menu\u0004Run", ["Run"])[0], pack.get("Run All Cells", ["Run All Cells"])[0])
    expect(nb.output(3)).to_contain_text("CHECK", timeout=90_000)


def _opened(page: Page, server: Server, url: str, language: str) -> tuple[Notebook, dict[str, list[str]]]:
    """The translation notebook opened at `url`, the page's language checked, and its cells run through the menus
    in `language`'s pack; the notebook and the pack."""
    pack = _pack(language)
    nb = Notebook(page)
    nb.open(server, url, "ceviri.ipynb")
    assert page.evaluate("document.documentElement.lang") == language.replace("_", "-")
    _run_all(nb, pack)
    return nb, pack


def _search(root: Locator, query: str) -> None:
    box = root.locator(".jp-ParamScope-search-input")
    box.fill(query)
    box.press("Enter")


def test_the_sidebar_and_the_widget_speak_turkish(turkish_lab, page):
    english, turkish = _catalogue("tr_TR")
    # JupyterLab itself is in Turkish: the page's language (checked by _opened) and its menus.
    nb, pack = _opened(page, turkish_lab, "/lab/tree/ceviri.ipynb?reset", "tr_TR")
    file_menu = pack["menu\u0004File"][0]
    expect(page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{file_menu}$"))).to_be_visible()

    # The paramscope sidebar: its tab, header and status in Turkish.
    tab = page.locator(f'.lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]')
    lab = json.loads((CATALOGUE / "lab.json").read_text(encoding="utf-8"))
    expect(tab).to_have_attribute("title", lab["Models (paramscope)"]["tr_TR"])
    sidebar = _open_sidebar(page)
    expect(sidebar.locator(".jp-ParamScope-sidebar-title")).to_have_text(lab["Models"]["tr_TR"])
    one_model = lab["%1 model"]["tr_TR"][0].replace("%1", "1")
    expect(sidebar.locator(".jp-ParamScope-sidebar-status")).to_have_text(one_model)
    model = sidebar.locator('.jp-ParamScope-model[data-model="gpt"]')
    header = model.locator(".jp-ParamScope-model-header")
    # 41,504 parameters in 162.1 KiB: Turkish groups with a dot and has a decimal comma.
    expect(header.locator(".jp-ParamScope-model-stats")).to_have_text(
        lab["%1 params"]["tr_TR"].replace("%1", "41.504") + " · 162,1 KiB · cpu")
    header.click()
    explorer = model.locator(".jp-ParamScope-explorer")
    expect(explorer.locator('.jp-ParamScope-row[data-path=""]')).to_be_visible()
    explorer.locator('.jp-ParamScope-row[data-path=""] .jp-ParamScope-name').click()  # the details pane too

    # What is not translated is gathered and reported at the end, after the features are checked.
    left = _toolbar_left(explorer, turkish)

    # Search `c_attn`: the 12 attention weights among the rows (scrolled through the virtualized list).
    _search(explorer, "c_attn weight")
    expect(explorer.locator(".jp-ParamScope-search-status")).to_contain_text("12")
    scroller = explorer.locator(".jp-ParamScope-scroller")
    seen: set[str] = set()
    for _ in range(20):
        seen.update(explorer.locator(".jp-ParamScope-row.jp-mod-match[data-path]").evaluate_all(
            "rows => rows.map(r => r.dataset.path)"))
        scroller.evaluate("s => { s.scrollTop += 200; s.dispatchEvent(new Event('scroll')); }")
    assert seen == set(WEIGHTS)
    scroller.evaluate("s => { s.scrollTop = 0; s.dispatchEvent(new Event('scroll')); }")
    left += _english_left(shown := _shown_texts(sidebar), english) + _english_words(shown)
    explorer.locator(".jp-ParamScope-search-input").press("Escape")
    expect(explorer.locator(".jp-ParamScope-row.jp-mod-match")).to_have_count(0)

    # The 12 repeated layers fold into one row, which opens.
    explorer.locator(".jp-ParamScope-fold-toggle").click()
    expect(explorer.locator(".jp-ParamScope-fold-toggle")).to_have_attribute("aria-pressed", "true")
    row = explorer.locator('.jp-ParamScope-row[data-path="transformer"]')
    row.locator(".jp-ParamScope-twisty").click()
    explorer.locator('.jp-ParamScope-row[data-path="transformer.h"] .jp-ParamScope-twisty').click()
    folded = explorer.locator('.jp-ParamScope-row[data-path="transformer.h.0"]')
    expect(folded.locator(".jp-ParamScope-name")).to_have_text("h.0 … h.11 × 12")
    left += _english_left(shown := _shown_texts(sidebar), english) + _english_words(shown)
    folded.locator(".jp-ParamScope-twisty").click()
    expect(explorer.locator('.jp-ParamScope-row[data-path="transformer.h.11"]')).to_be_visible()

    # The treemap: a click on the layers selects them in the tree.
    explorer.locator(".jp-ParamScope-map-toggle").click()
    layers = explorer.locator('.jp-ParamScope-treemap-inner[data-path="transformer.h"]')
    expect(layers).to_be_visible()
    left += _english_left(shown := _shown_texts(sidebar), english) + _english_words(shown)
    layers.click()
    expect(explorer.locator('.jp-ParamScope-row[data-path="transformer.h"]')).to_have_attribute("aria-selected", "true")
    explorer.locator(".jp-ParamScope-map-toggle").click()

    # Compare: a snapshot, a training cell, and the layer it moved.
    explorer.locator(".jp-ParamScope-compare-toggle").click()
    bar = explorer.locator(".jp-ParamScope-compare-bar")
    bar.locator(".jp-ParamScope-compare-take").click()
    status = bar.locator(".jp-ParamScope-compare-status")
    expect(status).to_contain_text("148")
    assert "TRAINED" in nb.run_cell(2)
    bar.locator(".jp-ParamScope-compare-now").click()
    expect(status).to_contain_text("12")
    expect(status).to_contain_text("148")
    moved = "jp-ParamScope-compare-cell jp-ParamScope-compare-moved"
    h3 = explorer.locator('.jp-ParamScope-row[data-path="transformer.h.3"] .jp-ParamScope-compare-cell')
    expect(h3).to_have_class(moved)
    expect(explorer.locator('.jp-ParamScope-row[data-path="transformer.h.2"] .jp-ParamScope-compare-cell')) \
        .not_to_have_class(moved)
    # A relative change is a short number: Turkish writes it with a decimal comma.
    expect(h3).to_have_text(re.compile(r"^-?\d+(,\d+)?(e-?\d+)?$"))
    left += _english_left(shown := _shown_texts(sidebar), english) + _english_words(shown)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sidebar-tr.png"))  # JupyterLab's Turkish around the sidebar
    copy_to_docs(ARTIFACTS / "sidebar-tr.png", "sidebar-tr.png")

    # The inline widget follows JupyterLab's language.
    widget = nb.widget(0)
    expect(widget.row("")).to_be_visible()
    left += _toolbar_left(widget.root, turkish)
    weight = "transformer.h.0.attn.c_attn.weight"
    widget.expand("", "transformer", "transformer.h", "transformer.h.0", "transformer.h.0.attn",
                  "transformer.h.0.attn.c_attn")
    widget.row(weight).locator(".jp-ParamScope-name").click()
    stats = widget.root.locator(".jp-ParamScope-details .jp-ParamScope-stats")
    expect(stats).to_be_visible()
    # Statistics with Turkish decimal commas (3 significant digits: "0,0123", "-0,25").
    expect(stats).to_contain_text(re.compile(r"-?\d,\d"), timeout=30_000)
    left += _english_left(shown := _shown_texts(widget.root), english) + _english_words(shown)
    widget.root.screenshot(path=str(ARTIFACTS / "widget-tr.png"))
    copy_to_docs(ARTIFACTS / "widget-tr.png", "widget-tr.png")
    # The action menu, the Reinitialize form and the history: Turkish as well.
    widget.row(weight).click(button="right")
    expect(widget.root.locator(".jp-ParamScope-menu")).to_be_visible()
    left += _english_left(shown := _shown_texts(widget.root.locator(".jp-ParamScope-menu")), english)
    left += _english_words(shown)
    widget.root.locator('.jp-ParamScope-menu button[data-action="reinit"]').click()
    expect(widget.form).to_be_visible()
    left += _english_left(shown := _shown_texts(widget.form), english) + _english_words(shown)
    widget.form.press("Escape")
    expect(widget.form).to_be_hidden()
    widget.root.locator(".jp-ParamScope-history-toggle").click()
    history = widget.root.locator(".jp-ParamScope-history")
    expect(history).to_be_visible()
    left += _english_left(shown := _shown_texts(history), english) + _english_words(shown)

    # The Settings editor shows paramscope's settings in Turkish (the plugin translates its own schema).
    nb.menu(pack["menu\u0004Settings"][0], pack.get("Settings Editor", ["Settings Editor"])[0])
    page.locator(".jp-PluginList-entry", has_text="paramscope").click()
    form = page.locator(".jp-SettingsPanel")
    for title in ("Refresh after each cell", "Children per page"):
        expect(form.get_by_text(lab["settings\u0004" + title]["tr_TR"], exact=True)).to_be_visible()
    assert not left, f"texts not in Turkish: {sorted(set(left))}"


def test_portuguese_follows_the_language_setting(turkish_lab, page):
    _, portuguese = _catalogue("pt_BR")
    _put_language(turkish_lab, "pt_BR")
    try:
        nb, _ = _opened(page, turkish_lab, "/lab/tree/ceviri.ipynb?reset", "pt_BR")
        sidebar = _open_sidebar(page)
        lab = json.loads((CATALOGUE / "lab.json").read_text(encoding="utf-8"))
        expect(sidebar.locator(".jp-ParamScope-sidebar-title")).to_have_text(lab["Models"]["pt_BR"])
        expect(sidebar.locator(".jp-ParamScope-sidebar-refresh")).to_have_attribute(
            "title", lab["Refresh: list the kernel's models again"]["pt_BR"])
        model = sidebar.locator('.jp-ParamScope-model[data-model="gpt"]')
        model.locator(".jp-ParamScope-model-header").click()
        explorer = model.locator(".jp-ParamScope-explorer")
        expect(explorer.locator('.jp-ParamScope-row[data-path=""]')).to_be_visible()
        left = _toolbar_left(explorer, portuguese)
        widget = nb.widget(0)  # the inline widget follows the new language as well
        expect(widget.row("")).to_be_visible()
        left += _toolbar_left(widget.root, portuguese)
        assert not left, f"texts not in Portuguese: {left}"
    finally:
        _put_language(turkish_lab, "tr_TR")


def test_notebook7_speaks_turkish(turkish_lab, page):
    english, turkish = _catalogue("tr_TR")
    nb, pack = _opened(page, turkish_lab, "/notebooks/ceviri.ipynb", "tr_TR")
    # Notebook 7 has no ILabShell: the panel is opened from View > Left Sidebar, by its translated name.
    lab = json.loads((CATALOGUE / "lab.json").read_text(encoding="utf-8"))
    view = pack["menu\u0004View"][0]
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{view}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Left Sidebar$|^Sol kenar")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=lab["Models (paramscope)"]["tr_TR"]).click()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar.locator(".jp-ParamScope-sidebar-title")).to_have_text(lab["Models"]["tr_TR"])
    model = sidebar.locator('.jp-ParamScope-model[data-model="gpt"]')
    model.locator(".jp-ParamScope-model-header").click()
    explorer = model.locator(".jp-ParamScope-explorer")
    expect(explorer.locator('.jp-ParamScope-row[data-path=""]')).to_be_visible()
    left = _toolbar_left(explorer, turkish) + _english_left(shown := _shown_texts(sidebar), english) + \
        _english_words(shown)
    widget = nb.widget(0)
    expect(widget.row("")).to_be_visible()
    left += _toolbar_left(widget.root, turkish)
    assert not left, f"texts not in Turkish in Notebook 7: {sorted(set(left))}"
