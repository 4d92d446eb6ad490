/** Short, readable text for counts, sizes, shapes and statistics, in the page's locale (i18n.ts), plus the DOM
 * helper every part uses. */

import { __, locale } from "./i18n";

const formats = new Map<string, Intl.NumberFormat>();

/** A cached Intl.NumberFormat for the current locale. */
function numberFormat(key: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const id = `${locale()}|${key}`;
  let format = formats.get(id);
  if (format === undefined) {
    format = new Intl.NumberFormat(locale(), options);
    formats.set(id, format);
  }
  return format;
}

/** Every digit, grouped for the locale: 124439808 -> "124,439,808" (Turkish and Portuguese "124.439.808"). */
export function formatInteger(n: number): string {
  return numberFormat("int", { maximumFractionDigits: 0 }).format(n);
}

/** `digits` decimals, no grouping: the mantissa of a short text (1.23 -> "1,23" in Turkish). */
function fixed(x: number, digits: number): string {
  return numberFormat(`fixed${digits}`, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false })
    .format(x);
}

const decimals = new Map<string, string>();

/** A number as JavaScript writes it (the shortest exact digits), with the locale's decimal sign. */
function plain(x: number): string {
  let decimal = decimals.get(locale());
  if (decimal === undefined) {
    decimal = new Intl.NumberFormat(locale()).formatToParts(1.5).find((p) => p.type === "decimal")?.value ?? ".";
    decimals.set(locale(), decimal);
  }
  return String(x).replace(".", decimal);
}

/** 1234 -> "1,234"; 124439808 -> "124.4M" (exact value goes in the title). */
export function formatCount(n: number): string {
  if (n < 100_000) return formatInteger(n);
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [size, unit] of units) if (n >= size) return `${fixed(n / size, n / size < 10 ? 2 : 1)}${unit}`;
  return plain(n);
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${formatInteger(n)} B` : `${fixed(value, value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** [8, 4] -> "8×4"; unknown dims as "?"; a scalar as "scalar". */
export function formatShape(shape: (number | null)[] | null): string {
  if (shape === null) return "";
  if (shape.length === 0) return __("scalar");
  return shape.map((d) => (d === null ? "?" : String(d))).join("×");
}

/** Three significant digits that fit a narrow card: plain between 0.01 and 1000 ("-0.048", "0.296", "412"),
 * engineering notation otherwise (exponent a multiple of 3: "1.23e3", "-48.1e-6"); "—" for missing. */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "-∞";
  const abs = Math.abs(x);
  if (abs >= 0.01 && abs < 1000) {
    const rounded = Number(x.toPrecision(3));
    if (Math.abs(rounded) < 1000) return plain(rounded);
  }
  let exponent = Math.floor(Math.log10(abs) / 3) * 3;
  let mantissa = Number((x / 10 ** exponent).toPrecision(3));
  if (Math.abs(mantissa) >= 1000) {
    // Rounding carried into the next group (999.6e3 -> 1.00e6).
    exponent += 3;
    mantissa = Number((x / 10 ** exponent).toPrecision(3));
  }
  return `${plain(mantissa)}e${exponent}`;
}

/** The exact value, for a title: every digit JavaScript keeps ("-0.04812345678"). */
export function exactNumber(x: number | null | undefined): string {
  return x === null || x === undefined ? __("no finite value") : plain(x);
}

/** 0.123 -> "12%" ("%12" in Turkish); under 0.1% -> "<0.1%". */
export function formatPercent(fraction: number): string {
  const percent = (digits: number, x: number) =>
    numberFormat(`pct${digits}`, { style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
  if (fraction === 0) return percent(0, 0);
  if (fraction < 0.001) return `<${percent(1, 0.001)}`;
  return percent(fraction < 0.1 ? 1 : 0, fraction);
}

/** Progress in whole percents, rounded down (100% only when done): 0.057 -> "5%" ("%5" in Turkish). */
export function formatProgress(fraction: number): string {
  return numberFormat("pct-floor", { style: "percent", maximumFractionDigits: 0 })
    .format(Math.floor(Math.max(0, Math.min(1, fraction)) * 100) / 100);
}

type Child = Node | string | null | undefined | false;

/** `h("span", {class: "x", title: "y"}, "text", child)`: a small element builder; falsy children are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    // Through the CSSOM: a strict Content Security Policy (VS Code webviews) blocks style attributes.
    if (key === "style") el.style.cssText = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** CSS class of a part: `cls("row")` -> "jp-ParamScope-row". */
export function cls(...parts: string[]): string {
  return parts.map((p) => `jp-ParamScope-${p}`).join(" ");
}
