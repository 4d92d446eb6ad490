/** What is loaded and expanded of one model's tree, and the flat list of visible rows it makes.
 *
 * Children are requested one page at a time (op `tree`, depth 1, offset/limit), only for expanded blocks and
 * only where rows come into view; rows not loaded yet are placeholders that the view asks to fill. */

import type { Node, RepeatRun } from "../protocol";

/** Children per request: a screenful many times over, yet a small answer even for 10,000-child blocks. */
export const PAGE = 200;

/** Asks the kernel for `path` with children [offset, offset + limit). */
export type FetchPage = (path: string, offset: number, limit: number) => Promise<Node>;

export interface Row {
  depth: number;
  node: Node | null; // null: child `index` of `parent` is not loaded yet
  parent: string | null; // null for the model row
  index: number;
  /** Search rows only: a match, or a block above matches; `hits` matches at or under it. */
  match?: boolean;
  hits?: number;
  /** A folded run of alike blocks: `node` is its first, `count` of them, the last named `last`. */
  fold?: { count: number; last: string };
}

interface Filter {
  rows: Row[];
  nodes: Map<string, Node>;
  parents: Set<string>; // rows with rows under them (shown open unless closed)
  closed: Set<string>;
}

interface Block {
  node: Node;
  children: (string | undefined)[]; // child paths by position; undefined: that page is not loaded
}

export class TreeState {
  private nodes = new Map<string, Node>();
  private blocks = new Map<string, Block>();
  private expanded = new Set<string>();
  private pending = new Map<string, Promise<void>>();
  private cache: Row[] | null = null;
  private filter: Filter | null = null;
  // Repeated blocks: runs by parent path (asked for while folding is on), and the runs opened by the user (first path).
  private runs = new Map<string, RepeatRun[]>();
  private unfolded = new Set<string>();

  /** `pageSize`: children per request (hosts let users set it; PAGE by default). */
  constructor(private readonly fetchPage: FetchPage, private readonly pageSize = PAGE) {}

  get root(): Node | null {
    return this.nodes.get("") ?? null;
  }

  node(path: string): Node | undefined {
    return this.nodes.get(path) ?? this.filter?.nodes.get(path);
  }

  /** Fold the runs of alike children of `path` (null: forget every run, nothing is folded any more). */
  setRuns(path: string | null, runs: RepeatRun[] = []): void {
    if (path === null) {
      this.runs.clear();
      this.unfolded.clear();
    } else {
      this.runs.set(path, runs);
    }
    this.cache = null;
  }

  /** The still folded run whose first block is `path`. */
  foldAt(path: string): RepeatRun | undefined {
    if (this.unfolded.has(path)) return undefined;
    for (const runs of this.runs.values()) {
      const run = runs.find((r) => r.first === path);
      if (run) return run;
    }
    return undefined;
  }

  /** Open a folded run: its blocks become rows of their own. */
  unfold(path: string): void {
    this.unfolded.add(path);
    this.cache = null;
  }

  /** The expanded blocks (what folding asks runs for). */
  expandedPaths(): string[] {
    return [...this.expanded];
  }

  isExpanded(path: string): boolean {
    if (!this.filter && this.foldAt(path)) return false;
    if (this.filter) return this.filter.parents.has(path) && !this.filter.closed.has(path);
    return this.expanded.has(path);
  }

  /** True while the rows are a search's (setFilter) instead of the loaded tree's. */
  get filtered(): boolean {
    return this.filter !== null;
  }

  /** Show only `rows` (a search answer: matches with their ancestors, in tree order) until `null` clears it; the
   * loaded tree, what is expanded in it and its refreshes are kept apart and come back unchanged. */
  setFilter(rows: { node: Node; parent: string | null; depth: number; match: boolean; hits: number }[] | null): void {
    this.filter = rows === null ? null : {
      rows: rows.map((r, index) => ({ depth: r.depth, node: r.node, parent: r.parent, index, match: r.match, hits: r.hits })),
      nodes: new Map(rows.map((r) => [r.node.path, r.node])),
      parents: new Set(rows.flatMap((r) => (r.parent === null ? [] : [r.parent]))),
      closed: new Set(),
    };
    this.cache = null;
  }

  /** Open or close a block among the search's rows; a matched block shown without its contents gets its first
   * page of children (depth 1) below it. */
  async toggleFiltered(path: string): Promise<void> {
    const filter = this.filter;
    if (!filter) return;
    if (filter.parents.has(path)) {
      if (!filter.closed.delete(path)) filter.closed.add(path);
    } else {
      const children = (await this.fetchPage(path, 0, this.pageSize)).children ?? [];
      const at = filter.rows.findIndex((r) => r.node?.path === path);
      if (this.filter !== filter || at < 0 || !children.length || filter.parents.has(path)) return;
      const depth = filter.rows[at].depth + 1;
      filter.rows.splice(at + 1, 0, ...children.map((child) => ({ depth, node: child, parent: path, index: 0 })));
      filter.rows.forEach((r, i) => (r.index = i));
      children.forEach((child) => filter.nodes.set(child.path, child));
      filter.parents.add(path);
    }
    this.cache = null;
  }

  /** Load the model row and its first page of children, expanded. */
  async load(): Promise<void> {
    const fresh = new TreeState(this.fetchPage, this.pageSize);
    await fresh.loadPage("", 0);
    fresh.expanded.add("");
    this.adopt(fresh);
  }

  /** Reload everything that is loaded now into a new state and swap it in whole: a failure changes nothing.
   * Expanded blocks that no longer exist are dropped. */
  async refresh(): Promise<void> {
    const fresh = new TreeState(this.fetchPage, this.pageSize);
    await fresh.loadPage("", 0);
    const queue = [""];
    fresh.expanded.add("");
    while (queue.length) {
      const path = queue.shift() as string;
      const old = this.blocks.get(path);
      const pages = new Set<number>();
      old?.children.forEach((child, i) => child !== undefined && pages.add(Math.floor(i / this.pageSize)));
      for (const page of pages) {
        if (page > 0 && page * this.pageSize < (fresh.nodes.get(path)?.n_children ?? 0)) await fresh.loadPage(path, page);
      }
      for (const child of fresh.blocks.get(path)?.children ?? []) {
        if (child === undefined || !this.expanded.has(child)) continue;
        if (!fresh.blocks.has(child)) await fresh.loadPage(child, 0);
        fresh.expanded.add(child);
        queue.push(child);
      }
    }
    this.adopt(fresh);
  }

  async expand(path: string): Promise<void> {
    const node = this.nodes.get(path);
    if (!node || node.n_children === 0) return;
    if (!this.blocks.has(path)) await this.loadPage(path, 0);
    this.expanded.add(path);
    this.cache = null;
  }

  collapse(path: string): void {
    if (this.expanded.delete(path)) this.cache = null;
  }

  /** Fill the placeholder rows among rows[from, to). */
  async ensureLoaded(from: number, to: number): Promise<void> {
    const rows = this.rows();
    const wanted = new Map<string, [string, number]>();
    for (let i = Math.max(0, from); i < Math.min(rows.length, to); i++) {
      const row = rows[i];
      if (row.node === null && row.parent !== null) {
        const page = Math.floor(row.index / this.pageSize);
        wanted.set(`${row.parent}\u0000${page}`, [row.parent, page]);
      }
    }
    await Promise.all([...wanted.values()].map(([parent, page]) => this.loadPage(parent, page)));
  }

  /** Expand the blocks above `path` (loading pages as needed) so that its row exists; false if not found. */
  async reveal(path: string): Promise<boolean> {
    let current = "";
    for (;;) {
      if (this.nodes.has(path) && this.parentOf(path) === current) {
        await this.expand(current);
        return true;
      }
      const block = this.blocks.get(current);
      if (!block) return false;
      const next = this.containing(block, path);
      if (next !== undefined) {
        await this.expand(current);
        current = next;
        if (!this.blocks.has(current)) await this.loadPage(current, 0);
        continue;
      }
      const missing = block.children.findIndex((c) => c === undefined);
      if (missing < 0) return false;
      await this.loadPage(current, Math.floor(missing / this.pageSize));
    }
  }

  /** The visible rows, depth first, as the view lists them. */
  rows(): Row[] {
    if (this.cache) return this.cache;
    if (this.filter) return (this.cache = this.filteredRows(this.filter));
    const rows: Row[] = [];
    const root = this.nodes.get("");
    if (root) {
      rows.push({ depth: 0, node: root, parent: null, index: 0 });
      this.flatten("", 1, rows);
    }
    this.cache = rows;
    return rows;
  }

  private filteredRows(filter: Filter): Row[] {
    if (!filter.closed.size) return filter.rows;
    const rows: Row[] = [];
    let hiddenBelow: number | null = null; // depth of the closed row whose descendants are skipped
    for (const row of filter.rows) {
      if (hiddenBelow !== null && row.depth > hiddenBelow) continue;
      hiddenBelow = row.node && filter.closed.has(row.node.path) ? row.depth : null;
      rows.push(row);
    }
    return rows;
  }

  private flatten(path: string, depth: number, rows: Row[]): void {
    if (!this.expanded.has(path)) return;
    const block = this.blocks.get(path);
    if (!block) return;
    const folded = new Map((this.runs.get(path) ?? []).filter((r) => !this.unfolded.has(r.first)).map((r) => [r.start, r]));
    // Walk by index, not forEach (which skips holes): unloaded children are placeholder rows.
    for (let index = 0; index < block.children.length; index++) {
      const child = block.children[index];
      const run = folded.get(index);
      if (run) { // one row for the run (its first block, loaded or a placeholder), the others skipped
        rows.push({ depth, node: child === undefined ? null : (this.nodes.get(child) as Node), parent: path, index,
          fold: { count: run.count, last: run.last_name } });
        index += run.count - 1;
        continue;
      }
      rows.push({ depth, node: child === undefined ? null : (this.nodes.get(child) as Node), parent: path, index });
      if (child !== undefined) this.flatten(child, depth + 1, rows);
    }
  }

  private parentOf(path: string): string | null {
    for (const [parent, block] of this.blocks) if (block.children.includes(path)) return parent;
    return null;
  }

  /** The loaded child block whose path is a prefix of `path` (PyTorch/MXNet "a.b", Keras "a/b"). */
  private containing(block: Block, path: string): string | undefined {
    let best: string | undefined;
    for (const child of block.children) {
      if (child === undefined || child === "") continue;
      const under = path.startsWith(child + ".") || path.startsWith(child + "/");
      if (under && (this.nodes.get(child)?.n_children ?? 0) > 0 && (!best || child.length > best.length)) best = child;
    }
    return best;
  }

  private loadPage(path: string, page: number): Promise<void> {
    const key = `${path}\u0000${page}`;
    const running = this.pending.get(key);
    if (running) return running;
    const done = this.fetchPage(path, page * this.pageSize, this.pageSize)
      .then((node) => this.store(node))
      .finally(() => this.pending.delete(key));
    this.pending.set(key, done);
    return done;
  }

  private store(node: Node): void {
    const { children, ...own } = node;
    this.nodes.set(node.path, own);
    let block = this.blocks.get(node.path);
    if (!block || block.children.length !== node.n_children) {
      block = { node: own, children: new Array<string | undefined>(node.n_children) };
      this.blocks.set(node.path, block);
    }
    block.node = own;
    children?.forEach((child, i) => {
      this.nodes.set(child.path, child);
      block.children[node.children_offset + i] = child.path;
    });
    this.cache = null;
  }

  private adopt(fresh: TreeState): void {
    this.nodes = fresh.nodes;
    this.blocks = fresh.blocks;
    this.expanded = fresh.expanded;
    this.cache = null;
  }
}
