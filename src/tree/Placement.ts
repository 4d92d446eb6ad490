/** Placement of a sharded tensor (PyTorch DTensor): a map of which rank holds which slice of the global
 * tensor (its first two dimensions drawn to scale, like torch's visualize_sharding) and a table per rank. */

import type { ReplicaCheck, Sharding, ShardSlice } from "../protocol";
import { cls, formatBytes, formatShape, h } from "./format";
import { __, _n, _p } from "./i18n";

const MAP_WIDTH = 240;
const MAP_HEIGHT = 120;
const SLOT_COLORS = 8; // slices cycle through this many colour classes

/** "[0:19, 0:12]": the slice in the global tensor, as Python would index it. */
export function sliceText(slice: ShardSlice): string {
  return `[${slice.offsets.map((o, i) => `${o}:${o + slice.shape[i]}`).join(", ")}]`;
}

/** "rank 1", or for a tf.distribute replica "replica 1 · CPU:1". */
function holder(slice: ShardSlice): string {
  return slice.device ? __("replica %1 · %2", slice.rank, slice.device) : __("rank %1", slice.rank);
}

export function renderPlacement(sharding: Sharding): HTMLElement {
  const mesh = sharding.mesh.shape.join("×");
  const names = sharding.mesh.dim_names.join(", ");
  const placements = `[${sharding.placements.join(", ")}]`;
  const summary = h("div", { class: cls("placement-summary") }, sharding.strategy
    ? __("mirrored by %1 on %2: every replica holds all of %3 (%4 each)", sharding.strategy,
      (sharding.devices ?? []).join(", "), formatShape(sharding.global_shape), formatBytes(sharding.local_nbytes))
    : [
      names
        ? __("sharded on a %1 %2 mesh (%3): %4", mesh, sharding.mesh.device_type, names, placements)
        : __("sharded on a %1 %2 mesh: %3", mesh, sharding.mesh.device_type, placements),
      __("global %1, rank %2 holds %3 (%4)", formatShape(sharding.global_shape), sharding.rank,
        formatShape(sharding.local_shape), formatBytes(sharding.local_nbytes)),
    ].join(" · "));
  const parts: HTMLElement[] = [summary];
  const map = renderMap(sharding);
  if (map) parts.push(map);
  parts.push(renderTable(sharding));
  return h("section", { class: cls("placement"), "data-placement": sharding.placements.join(",") },
    h("h4", {}, __("placement")), ...parts);
}

/** Distinct slices (replicas share one) over the first two dimensions, scaled into a fixed box. */
function renderMap(sharding: Sharding): HTMLElement | null {
  const [rows = 1, cols = 1] = sharding.global_shape.length >= 2 ? sharding.global_shape
    : [1, sharding.global_shape[0] ?? 1];
  if (rows <= 0 || cols <= 0) return null;
  const slots = new Map<string, { slice: ShardSlice; ranks: number[]; holders: string[] }>();
  for (const slice of sharding.layout) {
    if (slice.shape.some((n) => n === 0)) continue; // holds nothing: in the table only
    const key = `${slice.offsets.join(",")}/${slice.shape.join(",")}`;
    const slot = slots.get(key);
    if (slot) {
      slot.ranks.push(slice.rank);
      slot.holders.push(holder(slice));
    } else {
      slots.set(key, { slice, ranks: [slice.rank], holders: [holder(slice)] });
    }
  }
  const box = h("div", { class: cls("placement-map"), role: "img",
    "aria-label": __("which rank holds which slice of %1", formatShape(sharding.global_shape)),
    style: `width:${MAP_WIDTH}px;height:${MAP_HEIGHT}px` });
  let index = 0;
  for (const { slice, ranks, holders } of slots.values()) {
    const twoD = sharding.global_shape.length >= 2;
    const [r0, c0] = twoD ? [slice.offsets[0], slice.offsets[1]] : [0, slice.offsets[0] ?? 0];
    const [rn, cn] = twoD ? [slice.shape[0], slice.shape[1]] : [1, slice.shape[0] ?? 1];
    const label = holders.length === 1 ? holders[0]
      : slice.device ? __("replicas %1", ranks.join(", ")) : __("ranks %1", ranks.join(", "));
    box.append(h("div", {
      class: cls("placement-slot", `slot-${index % SLOT_COLORS}`) + (ranks.includes(sharding.rank) ? " jp-mod-current" : ""),
      title: `${label}: ${sliceText(slice)} ${formatShape(slice.shape)}`,
      style: `left:${(c0 / cols) * 100}%;top:${(r0 / rows) * 100}%;width:${(cn / cols) * 100}%;height:${(rn / rows) * 100}%`,
    }, label));
    index++;
  }
  return box;
}

function renderTable(sharding: Sharding): HTMLElement {
  const replicas = Boolean(sharding.strategy);
  const head = h("tr", {}, ...[
    replicas ? _p("placement column", "replica") : _p("placement column", "rank"),
    replicas ? _p("placement column", "device") : _p("placement column", "mesh"),
    _p("placement column", "slice"), _p("placement column", "shape"), _p("placement column", "bytes"),
  ].map((t) => h("th", {}, t)));
  const rows = sharding.layout.map((slice) =>
    h("tr", { class: slice.rank === sharding.rank ? "jp-mod-current" : "", "data-rank": slice.rank },
      h("td", {}, String(slice.rank)),
      h("td", {}, slice.device ?? `(${slice.coord.join(", ")})`),
      h("td", {}, h("code", {}, sliceText(slice))),
      h("td", {}, formatShape(slice.shape)),
      h("td", {}, formatBytes(slice.nbytes))));
  const table = h("table", { class: cls("placement-table") }, h("thead", {}, head), h("tbody", {}, ...rows));
  if (sharding.layout_complete) return table;
  return h("div", {}, table, h("div", { class: cls("muted") },
    _n("first %2 of %1 rank", "first %2 of %1 ranks", sharding.mesh.ranks.length, sharding.layout.length)));
}

/** One line under a mirrored variable's statistics: read from which replica, and whether the others agree. */
export function renderReplicaCheck(check: ReplicaCheck): HTMLElement {
  const text = check.agree
    ? _n("read from %2; the %1 replica holds the same values", "read from %2; all %1 replicas hold the same values",
      check.count, check.read_from)
    : __("read from %1; the replicas on %2 hold other values", check.read_from, check.differ.join(", "));
  return h("div", { class: cls("replicas") + (check.agree ? "" : " jp-mod-warn"), "data-agree": String(check.agree) },
    text);
}
