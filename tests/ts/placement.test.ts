import { describe, expect, it } from "vitest";
import type { Sharding } from "../../src/protocol";
import { renderPlacement, renderReplicaCheck, sliceText } from "../../src/tree/Placement";

// What the kernel sends for FSDP2's Shard(0) of a 37x12 embedding on 2 ranks (tests/test_distributed.py).
const fsdp: Sharding = {
  global_shape: [37, 12],
  local_shape: [19, 12],
  local_nbytes: 19 * 12 * 4,
  mesh: { shape: [2], dim_names: [], device_type: "cpu", ranks: [0, 1] },
  placements: ["Shard(0)"],
  rank: 0,
  layout: [
    { rank: 0, coord: [0], offsets: [0, 0], shape: [19, 12], nbytes: 912 },
    { rank: 1, coord: [1], offsets: [19, 0], shape: [18, 12], nbytes: 864 },
  ],
  layout_complete: true,
};

describe("Placement: which rank holds which slice", () => {
  it("writes slices as Python indexes them", () => {
    expect(sliceText(fsdp.layout[1])).toBe("[19:37, 0:12]");
  });

  it("draws one slot per distinct slice to scale and marks this rank", () => {
    const el = renderPlacement(fsdp);
    const slots = [...el.querySelectorAll<HTMLElement>(".jp-ParamScope-placement-slot")];
    expect(slots.map((s) => s.textContent)).toEqual(["rank 0", "rank 1"]);
    expect(slots[1].style.top).toBe(`${(19 / 37) * 100}%`);
    expect(slots[1].style.height).toBe(`${(18 / 37) * 100}%`);
    expect(slots[0].classList.contains("jp-mod-current")).toBe(true);
    const rows = [...el.querySelectorAll("tbody tr")].map((r) => r.textContent);
    expect(rows[1]).toContain("[19:37, 0:12]");
    expect(el.textContent).toContain("Shard(0)");
  });

  it("shows replicas as one slot held by several ranks, and empty shards in the table only", () => {
    const replicated: Sharding = {
      ...fsdp,
      mesh: { shape: [1, 2], dim_names: ["dp", "tp"], device_type: "cpu", ranks: [0, 1] },
      placements: ["Replicate()", "Replicate()"],
      local_shape: [37, 12],
      layout: [
        { rank: 0, coord: [0, 0], offsets: [0, 0], shape: [37, 12], nbytes: 1776 },
        { rank: 1, coord: [0, 1], offsets: [0, 0], shape: [37, 12], nbytes: 1776 },
      ],
    };
    const slots = renderPlacement(replicated).querySelectorAll(".jp-ParamScope-placement-slot");
    expect([...slots].map((s) => s.textContent)).toEqual(["ranks 0, 1"]);
    const empty: Sharding = { ...fsdp, global_shape: [1], layout: [
      { rank: 0, coord: [0], offsets: [0], shape: [1], nbytes: 4 },
      { rank: 1, coord: [1], offsets: [1], shape: [0], nbytes: 0 },
    ] };
    const el = renderPlacement(empty);
    expect(el.querySelectorAll(".jp-ParamScope-placement-slot").length).toBe(1);
    expect(el.querySelectorAll("tbody tr").length).toBe(2);
  });
});

describe("Placement of a tf.distribute variable: one copy per replica", () => {
  const mirrored: Sharding = {
    global_shape: [5, 4],
    local_shape: [5, 4],
    local_nbytes: 80,
    mesh: { shape: [2], dim_names: ["replica"], device_type: "CPU", ranks: [0, 1] },
    placements: ["Replicate()"],
    rank: 0,
    layout: [
      { rank: 0, coord: [0], offsets: [0, 0], shape: [5, 4], nbytes: 80, device: "CPU:0" },
      { rank: 1, coord: [1], offsets: [0, 0], shape: [5, 4], nbytes: 80, device: "CPU:1" },
    ],
    layout_complete: true,
    strategy: "MirroredStrategy",
    devices: ["CPU:0", "CPU:1"],
  };

  it("names the strategy and the devices", () => {
    const el = renderPlacement(mirrored);
    expect(el.querySelector(".jp-ParamScope-placement-summary")?.textContent).toContain(
      "mirrored by MirroredStrategy on CPU:0, CPU:1");
    expect([...el.querySelectorAll(".jp-ParamScope-placement-slot")].map((s) => s.textContent)).toEqual(
      ["replicas 0, 1"]);
    expect([...el.querySelectorAll("th")].map((t) => t.textContent)).toEqual(
      ["replica", "device", "slice", "shape", "bytes"]);
    expect(el.querySelectorAll("tbody tr")[1].textContent).toContain("CPU:1");
  });

  it("says whether the replicas agree, and warns where they do not", () => {
    const ok = renderReplicaCheck({ count: 2, read_from: "CPU:0", agree: true, differ: [] });
    expect(ok.textContent).toBe("read from CPU:0; all 2 replicas hold the same values");
    expect(ok.classList.contains("jp-mod-warn")).toBe(false);
    const bad = renderReplicaCheck({ count: 2, read_from: "CPU:0", agree: false, differ: ["CPU:1"] });
    expect(bad.textContent).toContain("the replicas on CPU:1 hold other values");
    expect(bad.classList.contains("jp-mod-warn")).toBe(true);
  });
});
