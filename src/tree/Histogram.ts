/** Histogram of a tensor's values as an SVG bar chart (scales with the panel; one title per bar on hover). */

import { cls, formatInteger, formatNumber, h } from "./format";
import { __ } from "./i18n";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 320;
const HEIGHT = 96;

export function renderHistogram(hist: { edges: number[]; counts: number[] }, label: string): HTMLElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", __("histogram of %1", label));
  svg.setAttribute("class", cls("histogram-plot"));
  const peak = Math.max(1, ...hist.counts);
  const width = WIDTH / hist.counts.length;
  hist.counts.forEach((count, i) => {
    // Every non-empty bin is at least one unit tall, so single outliers stay visible.
    const height = count === 0 ? 0 : Math.max(1, (count / peak) * (HEIGHT - 2));
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", String(i * width + 0.5));
    bar.setAttribute("y", String(HEIGHT - height));
    bar.setAttribute("width", String(Math.max(0.5, width - 1)));
    bar.setAttribute("height", String(height));
    bar.setAttribute("class", cls("bar"));
    const title = document.createElementNS(SVG, "title");
    // A half-open bin and its count; the translation picks the separator its decimal comma needs ("[0,5; 1)").
    title.textContent = __("[%1, %2): %3", formatNumber(hist.edges[i]), formatNumber(hist.edges[i + 1]), formatInteger(count));
    bar.append(title);
    svg.append(bar);
  });
  const lo = hist.edges[0];
  const hi = hist.edges[hist.edges.length - 1];
  return h("figure", { class: cls("histogram") },
    svg,
    h("figcaption", { class: cls("axis") },
      h("span", {}, formatNumber(lo)),
      h("span", {}, __("peak %1", formatInteger(peak))),
      h("span", {}, formatNumber(hi))));
}
