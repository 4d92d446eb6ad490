/** The settings schema (schema/plugin.json) in the page's language. The JupyterLab server translates schemas only
 * from a language pack's own gettext files, so the plugin translates its schema itself when the setting registry
 * fetches it (the schema asks for that with "jupyter.lab.transform"). */

import type { ISettingRegistry } from "@jupyterlab/settingregistry";
import { _p } from "../tree/i18n";

/** Every title and description of schema/plugin.json, in JupyterLab's schema contexts ("schema" for the plugin,
 * "settings" for its properties); a test checks that this covers the schema (its title is the name "paramscope"). */
export function schemaTexts(): Record<string, string> {
  return {
    "The Models sidebar: live models of the active notebook's kernel.":
      _p("schema", "The Models sidebar: live models of the active notebook's kernel."),
    "Refresh after each cell": _p("settings", "Refresh after each cell"),
    "List the kernel's models again after every executed cell and every inline-widget action. Off: only the refresh button lists them.":
      _p("settings", "List the kernel's models again after every executed cell and every inline-widget action. Off: only the refresh button lists them."),
    "Children per page": _p("settings", "Children per page"),
    "How many children of an expanded block one request loads (more load as you scroll).":
      _p("settings", "How many children of an expanded block one request loads (more load as you scroll)."),
  };
}

type Json = ISettingRegistry.IPlugin["schema"];

/** A copy of `schema` whose titles and descriptions (the plugin's and its properties') are translated. */
export function translateSchema(schema: Json): Json {
  const texts = schemaTexts();
  const translated = <T extends { title?: unknown; description?: unknown }>(part: T): T => {
    const copy = { ...part };
    if (typeof copy.title === "string") copy.title = texts[copy.title] ?? copy.title;
    if (typeof copy.description === "string") copy.description = texts[copy.description] ?? copy.description;
    return copy;
  };
  const properties = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, property]) =>
    [key, translated(property)]));
  return { ...translated(schema), properties };
}

/** The setting registry's fetch transform: the plugin with its schema translated. */
export function translatePlugin(plugin: ISettingRegistry.IPlugin): ISettingRegistry.IPlugin {
  return { ...plugin, schema: translateSchema(plugin.schema) };
}
