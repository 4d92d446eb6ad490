/** The JupyterLab / Notebook 7 plugin: a "Models" panel in the left area showing the live models of the active
 * notebook's or console's kernel. Declarations and wiring only; the behaviour lives in sidebar.ts and panel.ts. */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ILayoutRestorer } from "@jupyterlab/application";
import { ICommandPalette, MainAreaWidget } from "@jupyterlab/apputils";
import { IConsoleTracker } from "@jupyterlab/console";
import { INotebookTracker } from "@jupyterlab/notebook";
import { ISettingRegistry } from "@jupyterlab/settingregistry";
import { ITranslator } from "@jupyterlab/translation";
import { LabIcon } from "@jupyterlab/ui-components";
import { Widget } from "@lumino/widgets";
import type { DetailsHost } from "../tree/DetailsLayout";
import { __, setTranslator } from "../tree/i18n";
import { translatePlugin } from "./schema";
import { type KernelHost, ModelsSidebar, type SidebarSettings } from "./sidebar";

const PLUGIN_ID = "paramscope:plugin";
const SHOW_COMMAND = "paramscope:show-models";
const DEFAULTS: SidebarSettings = { autoRefresh: true, maxChildrenPerPage: 200 };

// Three stacked blocks joined like a model tree; jp-icon3 follows the light and dark themes.
const modelsIcon = new LabIcon({
  name: "paramscope:models",
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="3" width="10" height="5" rx="1"/><rect x="9" y="10" width="12" height="5" rx="1"/>
    <rect x="9" y="17" width="12" height="5" rx="1"/><rect x="5" y="8" width="2" height="12"/>
    <rect x="5" y="11.5" width="4" height="2"/><rect x="5" y="18.5" width="4" height="2"/>
  </g></svg>`,
});

/** Details of the sidebar's selection in a main-area tab, split to the right of the current notebook. */
function detailsTabs(app: JupyterFrontEnd, notebooks: INotebookTracker | null): DetailsHost {
  let tabs = 0;
  return {
    open(element, title, closed) {
      const content = new Widget();
      content.addClass("jp-ParamScope");
      content.addClass("jp-ParamScope-detailsTab");
      content.node.append(element);
      const tab = new MainAreaWidget({ content });
      tab.id = `paramscope-details-${++tabs}`;
      tab.title.label = title;
      tab.title.icon = modelsIcon;
      tab.title.closable = true;
      let closing = false;
      tab.disposed.connect(() => {
        if (!closing) closed();
      });
      const ref = notebooks?.currentWidget?.id ?? null;
      app.shell.add(tab, "main", { mode: "split-right", ref, activate: false });
      return {
        close: () => {
          closing = true;
          tab.dispose();
        },
      };
    },
  };
}

interface Tracker {
  readonly currentWidget: KernelHost | null;
  readonly currentChanged: { connect(fn: () => void): boolean };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: "A left-sidebar panel listing the live models of the active notebook's kernel.",
  autoStart: true,
  // Not ILabShell: Notebook 7 has no such shell, and `app.shell.add(…, "left")` works in both.
  optional: [INotebookTracker, IConsoleTracker, ISettingRegistry, ICommandPalette, ILayoutRestorer, ITranslator],
  activate: (app: JupyterFrontEnd, notebooks: INotebookTracker | null, consoles: IConsoleTracker | null,
    registry: ISettingRegistry | null, palette: ICommandPalette | null, restorer: ILayoutRestorer | null,
    translator: ITranslator | null) => {
    // JupyterLab's language (Settings → Language): the catalogue the server serves for the "paramscope" domain.
    // Set before anything is built, since every text is translated when it is made.
    if (translator) setTranslator(translator.load("paramscope"), translator.languageCode);
    // JupyterLab can split its main area beside the notebook; Notebook 7 shows one document at a time.
    const sidebar = new ModelsSidebar(DEFAULTS, app.name === "JupyterLab" ? detailsTabs(app, notebooks) : undefined);
    sidebar.title.icon = modelsIcon;
    app.shell.add(sidebar, "left", { rank: 600 });
    restorer?.add(sidebar, ModelsSidebar.id);

    // Follow whichever of the notebook and console trackers changed last; fall back to the other one.
    const trackers = [notebooks, consoles].filter((t): t is NonNullable<typeof t> => t !== null) as unknown as Tracker[];
    for (const tracker of trackers) {
      tracker.currentChanged.connect(() => {
        sidebar.follow(tracker.currentWidget ?? trackers.map((t) => t.currentWidget).find((w) => w !== null) ?? null);
      });
    }
    sidebar.follow(trackers.map((t) => t.currentWidget).find((w) => w !== null) ?? null);

    app.commands.addCommand(SHOW_COMMAND, {
      label: __("Show Models (paramscope)"),
      caption: __("Open the sidebar of the kernel's live models"),
      execute: () => app.shell.activateById(sidebar.id),
    });
    palette?.addItem({ command: SHOW_COMMAND, category: "paramscope" });

    if (registry) {
      // The schema's titles and descriptions in the page's language, for the Settings editor.
      registry.transform(PLUGIN_ID, { fetch: translatePlugin });
      registry.load(PLUGIN_ID).then((settings) => {
        const apply = () => sidebar.configure({
          autoRefresh: settings.get("autoRefresh").composite as boolean,
          maxChildrenPerPage: settings.get("maxChildrenPerPage").composite as number,
        });
        apply();
        settings.changed.connect(apply);
      }, (error: unknown) => console.warn("paramscope: could not load the settings", error));
    }
  },
};

export default plugin;
