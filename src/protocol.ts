/** Message types of the paramscope protocol (mirroring kernel_helpers/paramscope/protocol.py) and the
 * Transport interface every host implements: anywidget messages, a kernel execute, a VS Code postMessage. */

export type Kind = "model" | "block" | "param" | "buffer";
export type State = "ready" | "lazy" | "meta" | "deferred" | "unbuilt";

/** One row of the tree: a model, block, parameter or buffer, addressed by the framework's own path. */
export interface Node {
  path: string;
  name: string;
  kind: Kind;
  type: string;
  shape: (number | null)[] | null; // null entries: unknown dims; null: even the rank is unknown (or a block)
  dtype: string | null;
  device: string | null;
  trainable: boolean | null;
  state: State;
  numel: number;
  nbytes: number;
  n_params: number; // unique: a tied parameter is counted once
  n_params_with_aliases: number;
  n_buffers: number; // elements of buffers / running statistics under it (each once), apart from n_params
  tied_to: string | null; // canonical path when this use is an alias
  aliases: string[];
  has_grad: boolean;
  n_children: number;
  code: string; // Python expression reaching the node from the variable, for "copy as code"
  alt_name: string | null;
  sharding?: Sharding; // present only on a sharded tensor (PyTorch DTensor); shape/numel/nbytes are global
  children?: Node[]; // present only when expanded: children[i] is child number children_offset + i
  children_offset: number;
}

/** Where the slices of a sharded tensor live: one row per rank of its device mesh. */
export interface ShardSlice {
  rank: number;
  coord: number[]; // the rank's coordinate in the mesh
  offsets: number[]; // start of its slice in each dimension of the global tensor
  shape: number[]; // the slice's shape (0 in a dimension: the rank holds nothing)
  nbytes: number;
  device?: string; // a tf.distribute replica's device ("CPU:1", "GPU:0")
}

export interface Sharding {
  global_shape: number[];
  local_shape: number[]; // this kernel's rank's shard
  local_nbytes: number;
  mesh: { shape: number[]; dim_names: string[]; device_type: string; ranks: number[] };
  placements: string[]; // per mesh dimension: "Shard(0)", "Replicate()", "Partial(sum)"
  rank: number; // the kernel's rank
  layout: ShardSlice[]; // the first 64 ranks of the mesh
  layout_complete: boolean;
  strategy?: string; // a Keras variable under tf.distribute: "MirroredStrategy" (a 1-D mesh of replicas)
  devices?: string[];
}

/** A mirrored (tf.distribute) variable's statistics come from one replica; the others are compared with it. */
export interface ReplicaCheck {
  count: number;
  read_from: string;
  agree: boolean;
  differ: string[]; // devices whose values differ from read_from's
}

export interface ModelSummary {
  name: string;
  framework: string;
  type: string;
  n_params: number;
  n_buffers: number;
  nbytes: number;
  device: string | null;
  dtype: string | null;
  state: State;
  revision: number;
}

export interface Unavailable {
  path: string;
  available: false;
  reason: string;
}

export interface Stats {
  path: string;
  available: true;
  shape: (number | null)[] | null;
  dtype: string | null;
  device: string | null;
  numel: number;
  mean: number | null; // null: no finite value
  std: number | null;
  min: number | null;
  max: number | null;
  rms: number | null; // root mean square of the finite values
  zeros: number; // fraction of all elements
  nan: number;
  inf: number;
  hist: { edges: number[]; counts: number[] };
  changed?: boolean; // written while being read (training): the numbers mix old and new values
  during_step?: boolean; // read while another thread trains the model (`training` names the threads)
  training?: string[];
  replicas?: ReplicaCheck; // tf.distribute: read from one replica, checked against the others
}

/** `stats` not done within its `budget_ms`: poll `job` (`stats_poll`) or cancel it (`stats_cancel`). */
export interface StatsPending {
  path: string;
  pending: true;
  job: string;
  progress: number; // 0..1
}

/** The scalar statistics a watch records per parameter and per gradient, each step it records. */
export interface WatchSummary {
  numel: number;
  mean: number | null;
  std: number | null;
  rms: number | null;
  norm: number | null; // L2 norm of the finite values
  zeros: number; // fraction of all elements
  nan: number;
  inf: number;
}

/** A histogram of a focused parameter at one recorded step. */
export interface WatchHist {
  edges: number[];
  counts: number[];
}

export interface WatchRecord {
  seq: number;
  step: number;
  time: number; // seconds since the epoch, when the step's forward started
  values: Record<string, WatchSummary>;
  grads: Record<string, WatchSummary>;
  update: Record<string, number | null>; // ‖Δw‖/‖w‖ of the step's update, per param
  hist: Record<string, WatchHist>; // values, for the focused params
  grad_hist: Record<string, WatchHist>;
}

export type WatchFlag = "nonfinite" | "exploding" | "vanishing";

export interface WatchState {
  active: boolean;
  every: number;
  step: number;
  records: WatchRecord[]; // those with seq >= the request's `since`
  next: number; // pass as `since` next time
  dropped: number; // records the ring buffer let go
  max_records: number;
  flags: Record<string, WatchFlag[]>; // params whose latest recorded step needs a look
  focus: string[];
  statistics: Record<string, string>; // statistic name -> description
}

/** What undo answers. `forced`: the user had changed what the action changed since (`conflicts` says what) and
 * `force` put the saved state back anyway; `notes` are the parts it could not put back exactly (a layer that is
 * gone, a dtype that changed). Without `force` such an undo is refused with error type "UndoConflict". */
export interface UndoResult {
  undone: HistoryEntry;
  revision: number;
  forced: boolean;
  conflicts?: string[];
  notes?: { path: string; reason: string }[];
}

/** The request (op "undo" with `to`) that undoes history entry `to` and every later one, all or none. */
export interface UndoToRequest {
  op: "undo";
  model: string;
  to: number;
  force?: boolean;
}

export interface UndoToResult {
  undone: HistoryEntry[];
  revision: number;
  forced: boolean;
}

/** What the kernel pushes while a watched model trains (inline widget message, sidebar comm). */
export interface WatchPush {
  event: "watch";
  model: string | null;
  state: WatchState;
}

export interface Values {
  path: string;
  available: true;
  shape: (number | null)[] | null;
  rows: number;
  cols: number;
  row_step: number;
  col_step: number;
  data: (number | null)[][]; // rows x cols; null for NaN/Inf
  min: number | null;
  max: number | null;
  during_step?: boolean; // read while another thread trains the model (`training` names the threads)
  training?: string[];
}

/** Tokens that change when a tensor (or its gradient) is written, rebound or moved; grad "none": no gradient. */
export interface Fingerprint {
  value: string;
  grad: string;
}

export interface Initializer {
  name: string;
  args: { name: string; default: number }[];
  needs_matrix: boolean;
  bias: BiasMode | null; // what it does to biases on a block unless told (null: "default" decides itself)
}

/** What undo answers. `forced`: the user had changed what the action changed since (`conflicts` says what) and
 * `force` put the saved state back anyway; `notes` are the parts it could not put back exactly (a layer that is
 * gone, a dtype that changed). Without `force` such an undo is refused with error type "UndoConflict". */
export interface UndoResult {
  undone: HistoryEntry;
  revision: number;
  forced: boolean;
  conflicts?: string[];
  notes?: { path: string; reason: string }[];
}

export interface HistoryEntry {
  index: number;
  op: string;
  description: string;
  paths: string[];
  changed: string[]; // every tensor (or slot) the action changed
  bytes: number;
  undoable: boolean;
  time: number;
}

/** What a catalogue initializer on a block does to biases: zero them (the chapter's init_normal), keep them
 * (init_42, init_xavier) or draw them too. */
export type BiasMode = "zeros" | "keep" | "same";

export interface ActionResult {
  changed: string[];
  skipped?: { path: string; reason: string }[];
  kept?: { path: string; reason: string }[]; // left alone on purpose: kept biases, running statistics
  bias?: BiasMode | null;
  output?: string; // what a custom initializer printed
  revision: number;
  action: HistoryEntry;
  note?: string;
}

export type SetMode = "set" | "add" | "mul";
/** A value the kernel can write: a number, or nested lists of numbers matching the shape of the target. */
export type ArrayValue = number | ArrayValue[];

/** One row of a search answer: a match (`match`) or a block above one, with the matches at or under it. */
export interface SearchRow {
  node: Node; // depth 0: no children
  parent: string | null;
  depth: number;
  match: boolean;
  hits: number;
}

/** What `search` answers: the first `limit` matches in tree order with their ancestors; `total` counts them all,
 * `params`/`nbytes` sum the matched tensors (each tied one once). */
export interface SearchResult {
  total: number;
  truncated: boolean;
  rows: SearchRow[];
  params: number;
  nbytes: number;
  framework: string;
}

/** Where the parameters are (op `sizes`): a block, its largest children by unique parameters, `more` merged. */
export interface SizeNode {
  path?: string;
  name?: string;
  kind?: string;
  type?: string;
  dtype?: string | null;
  n_params: number;
  nbytes: number;
  more?: number;
  children?: SizeNode[];
  /** With `color`: the statistic of the parameters this entry counts (size-weighted; null: none has one). */
  value?: number | null;
}

/** What can colour the treemap (op `sizes` `color`): dtype, or a statistic of the values, the gradients, the
 * change since the compare snapshot (`change`), or the watch's latest recorded step. */
export type SizeColor = "dtype" | "rms" | "std" | "mean" | "zeros" | "grad_norm" | "grad_rms" | "change" |
  "watch_grad_norm" | "watch_update";

/** A snapshot of parameter values on the kernel's host (ops `snapshot_take`, `compare`). */
export interface SnapshotInfo {
  path: string;
  taken_at: number;
  params: number;
  buffers?: number;
  nbytes: number;
}

/** How one parameter changed since the snapshot; `status` "shape" / "dtype" / "gone" / "unreadable" say why
 * there are no numbers (`reason`). `changed` is the fraction of values changed, `rel` is ‖Δw‖/‖w‖. */
export interface ParamChange {
  path: string;
  kind?: "param" | "buffer";
  status: "same" | "changed" | "shape" | "dtype" | "gone" | "unreadable";
  reason?: string;
  numel: number;
  delta_norm: number | null;
  max_abs: number | null;
  changed: number | null;
  norm: number | null;
  rel: number | null;
}

/** A block's parameters' changes added up (each tied parameter once). */
export interface BlockChange {
  path: string;
  params: number;
  changed_params: number;
  moved: number;
  numel: number;
  delta_norm: number;
  max_abs: number;
  norm: number;
  rel: number | null;
  changed: number;
  /** Buffers under the block, and those that changed (counted apart: they stay out of the norms). */
  buffers?: number;
  changed_buffers?: number;
}

export interface CompareResult {
  snapshot: SnapshotInfo;
  totals: { params: number; changed: number; delta_norm: number; norm: number; rel: number | null; buffers?: number;
    changed_buffers?: number };
  params: ParamChange[];
  /** Buffers (running statistics), compared as parameters are; absent from kernels before buffers were. */
  buffers?: ParamChange[];
  blocks: BlockChange[];
  total_params: number;
  total_buffers?: number;
  total_blocks: number;
  truncated: boolean;
  framework: string;
}

/** Consecutive children of a block with the same type and parameter shapes (`start`: position among them). */
export interface RepeatRun {
  start: number;
  count: number;
  first: string;
  last: string;
  first_name: string;
  last_name: string;
}

/** Each op with its request fields (besides id) and its result. */
export interface Ops {
  models: { request: { op: "models" }; result: { models: ModelSummary[]; version: number } };
  tree: {
    request: { op: "tree"; model: string; path: string; depth?: number | null; offset?: number; limit?: number | null };
    result: { node: Node; framework: string };
  };
  stats: {
    request: { op: "stats"; model: string; path: string; bins?: number; budget_ms?: number };
    result: Stats | Unavailable | StatsPending;
  };
  stats_poll: { request: { op: "stats_poll"; model: string; job: string; budget_ms?: number }; result: Stats | Unavailable | StatsPending };
  stats_cancel: { request: { op: "stats_cancel"; model: string; job: string }; result: { job: string; cancelled: boolean } };
  values: {
    request: { op: "values"; model: string; path: string; max_elems?: number };
    result: Values | Unavailable;
  };
  fingerprints: {
    request: { op: "fingerprints"; model: string; paths: string[] };
    result: { fingerprints: Record<string, Fingerprint | null>; supported: boolean };
  };
  initializers: {
    request: { op: "initializers"; model: string };
    result: { catalogue: Initializer[]; custom: string[] };
  };
  reinit: {
    request: {
      op: "reinit"; model: string; path: string; init: string; args: Record<string, number>; seed: number | null;
      bias?: BiasMode;
    };
    result: ActionResult;
  };
  set_value: {
    request:
      | { op: "set_value"; model: string; path: string; value: ArrayValue; index: string | null; mode: SetMode }
      | { op: "set_value"; model: string; path: string; fn: string; index: string | null; mode: SetMode };
    result: ActionResult;
  };
  tie: { request: { op: "tie"; model: string; path: string; to: string }; result: ActionResult };
  untie: { request: { op: "untie"; model: string; path: string }; result: ActionResult };
  undo: { request: { op: "undo"; model: string; force?: boolean }; result: UndoResult };
  watch_start: {
    request: { op: "watch_start"; model: string; every?: number; max_records?: number; focus?: string[]; display?: boolean };
    result: WatchState;
  };
  watch_focus: { request: { op: "watch_focus"; model: string; focus: string[]; since?: number }; result: WatchState };

  watch_stop: { request: { op: "watch_stop"; model: string; since?: number }; result: WatchState };
  watch_poll: { request: { op: "watch_poll"; model: string; since?: number }; result: WatchState };
  search: { request: { op: "search"; model: string; query: string; limit?: number }; result: SearchResult };
  repeats: { request: { op: "repeats"; model: string; path: string }; result: { path: string; runs: RepeatRun[] } };
  snapshot_take: {
    request: { op: "snapshot_take"; model: string; path?: string; limit_bytes?: number };
    result: { snapshot: SnapshotInfo };
  };
  snapshot_clear: { request: { op: "snapshot_clear"; model: string }; result: { cleared: boolean } };
  compare: { request: { op: "compare"; model: string; limit?: number }; result: CompareResult };
  sizes: {
    request: { op: "sizes"; model: string; path: string; depth?: number; per_block?: number; color?: SizeColor };
    result: { root: SizeNode; framework: string; color: SizeColor; colors: SizeColor[] };
  };
  history: {
    request: { op: "history"; model: string };
    result: {
      entries: HistoryEntry[];
      dropped: number;
      dropped_entries: { description: string; time: number; bytes: number }[];
      bytes: number;
      limit_bytes: number;
      limit_entries: number;
      revision: number;
    };
  };
}

export type Op = keyof Ops;
export type RequestBody<O extends Op = Op> = Ops[O]["request"];
/** The result type of a request body, read off its `op`. */
export type ResultOf<R extends RequestBody> = R extends { op: infer O extends Op } ? Ops[O]["result"] : never;
/** What goes over the wire: a request body with the id its answer will carry. */
export type Request = RequestBody & { id: number };

/** ActionError: a user mistake or refusal (the message says what to do); UndoConflict: see `undo`;
 * BadRequest: a malformed request or a field out of its bound (a front-end bug); InternalError: a paramscope bug. */
export type ErrorType = "ActionError" | "UndoConflict" | "BadRequest" | "InternalError";

export interface ErrorBody {
  type: ErrorType | string;
  message: string;
}

/** The kernel's bounds on what a request may hold (docs/protocol.md, "Limits"); beyond them: BadRequest. */
export const LIMITS = {
  requestBytes: 64 * 2 ** 20,
  nesting: 64,
  string: 65_536,
  list: 100_000,
  maxElems: 65_536, // `values`: a larger max_elems is answered with this many
  bins: 4096,
  treeLimit: 10_000,
  treeDepth: 100_000,
  treeNodes: 200_000, // nodes in one `tree` answer
  indexText: 1_000,
  setValueNumbers: 2 ** 24, // and never more than the target has elements
} as const;

export type Response =
  | { id: number | null; ok: true; result: unknown; revision: number | null }
  | { id: number | null; ok: false; error: ErrorBody; revision: number | null };

/** How a host carries one request to the kernel and its answer back; the only thing a host must provide. */
export interface Transport {
  request(req: Request): Promise<Response>;
}

/** The kernel refused or failed a request; `type` is "ActionError" for user mistakes, "BadRequest" for bugs. */
export class KernelError extends Error {
  readonly type: string;

  constructor(body: ErrorBody) {
    super(body.message);
    this.name = "KernelError";
    this.type = body.type;
  }
}

/** Numbers requests, unwraps answers and reports every revision the kernel mentions. */
export class Client {
  private nextId = 1;
  private readonly revisionListeners = new Set<(revision: number) => void>();

  constructor(private readonly transport: Transport) {}

  /** The result of one request; rejects with KernelError when the kernel answers `ok: false`. */
  async call<R extends RequestBody>(body: R): Promise<ResultOf<R>> {
    const id = this.nextId++;
    const response = await this.transport.request({ ...body, id } as Request);
    if (typeof response.revision === "number") {
      for (const listener of this.revisionListeners) listener(response.revision);
    }
    if (!response.ok) throw new KernelError(response.error);
    return response.result as ResultOf<R>;
  }

  onRevision(listener: (revision: number) => void): () => void {
    this.revisionListeners.add(listener);
    return () => this.revisionListeners.delete(listener);
  }
}
