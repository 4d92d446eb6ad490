/** Heatmap of a down-sampled 2-D view of a tensor: one canvas pixel per sample, scaled up without smoothing.
 * Colours diverge around zero (blue negative, red positive) so that sign and magnitude read at a glance. */

import type { Values } from "../protocol";
import { cls, formatNumber, h } from "./format";
import { __ } from "./i18n";

const NAN_RGB: [number, number, number] = [160, 160, 160];
const NEG_RGB: [number, number, number] = [33, 102, 172];
const MID_RGB: [number, number, number] = [247, 247, 247];
const POS_RGB: [number, number, number] = [178, 24, 43];

/** Colour of `value` on a scale symmetric around zero with half-width `extent`; grey for NaN/Inf (null). */
export function colourOf(value: number | null, extent: number): [number, number, number] {
  if (value === null) return NAN_RGB;
  const t = extent > 0 ? Math.max(-1, Math.min(1, value / extent)) : 0;
  const end = t < 0 ? NEG_RGB : POS_RGB;
  const a = Math.abs(t);
  return [0, 1, 2].map((k) => Math.round(MID_RGB[k] + (end[k] - MID_RGB[k]) * a)) as [number, number, number];
}

export function renderHeatmap(values: Values, label: string): HTMLElement {
  const canvas = h("canvas", {
    class: cls("heatmap-plot"),
    width: values.cols,
    height: values.rows,
    role: "img",
    "aria-label": __("heatmap of %1, %2×%3 samples", label, values.rows, values.cols),
  });
  // Wide 1-D tensors (one row) get a band a few pixels high rather than a hairline.
  canvas.style.aspectRatio = `${values.cols} / ${Math.max(values.rows, values.cols / 24)}`;
  const extent = Math.max(Math.abs(values.min ?? 0), Math.abs(values.max ?? 0));
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const image = ctx.createImageData(values.cols, values.rows);
    values.data.forEach((row, r) => {
      row.forEach((value, c) => {
        const [red, green, blue] = colourOf(value, extent);
        const at = (r * values.cols + c) * 4;
        image.data[at] = red;
        image.data[at + 1] = green;
        image.data[at + 2] = blue;
        image.data[at + 3] = 255;
      });
    });
    ctx.putImageData(image, 0, 0);
  }
  return h("figure", { class: cls("heatmap") },
    canvas,
    h("figcaption", { class: cls("axis") },
      h("span", { class: cls("swatch", "neg") }, formatNumber(-extent)),
      h("span", {}, sampling(values)),
      h("span", { class: cls("swatch", "pos") }, formatNumber(extent))));
}

/** The caption of what the heatmap samples: its size, and which rows and columns of the tensor it shows. */
function sampling(values: Values): string {
  const { rows, cols, row_step: rowStep, col_step: colStep } = values;
  if (rowStep > 1 && colStep > 1) return __("%1×%2, one row in %3, one column in %4", rows, cols, rowStep, colStep);
  if (rowStep > 1) return __("%1×%2, one row in %3, every column", rows, cols, rowStep);
  if (colStep > 1) return __("%1×%2, every row, one column in %3", rows, cols, colStep);
  return __("%1×%2, all values", rows, cols);
}
