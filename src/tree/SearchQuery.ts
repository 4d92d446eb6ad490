/** The search grammar, checked in the box before a query goes to the kernel: the same terms and the same
 * messages as kernel_helpers/paramscope/search_query.py (tests/fixtures/search_queries.json holds both to it).
 * The grammar's words (`type:`, `numel`, `trainable`, k/M/G …) are the same in every language; the messages go
 * through the translator, so in English they are the kernel's, word for word. */

import { formatInteger } from "./format";
import { __, _n } from "./i18n";

export const MAX_QUERY = 1_000;
export const MAX_TERMS = 32;
const FIELDS = ["type", "dtype", "device", "state", "kind"] as const;
const FLAGS = ["trainable", "frozen", "tied"] as const;
const STATES = ["ready", "lazy", "meta", "deferred", "unbuilt"];
const KINDS = ["model", "block", "param", "buffer"];
const EXAMPLES: Record<string, string> = {
  type: "type:Linear", dtype: "dtype:float16", device: "device:cuda:0", state: "state:lazy", kind: "kind:param",
};
const COMPARE = /(numel|nbytes)\s*(>=|<=|!=|=|>|<)\s*/y;
const NUMBER = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9 };
const WILD = /[*?[]/;

export type SearchTerm = { negate: boolean } & (
  | { kind: "text" | "glob"; value: string }
  | { kind: "field"; field: (typeof FIELDS)[number]; value: string }
  | { kind: "flag"; flag: (typeof FLAGS)[number] }
  | { kind: "compare"; field: "numel" | "nbytes"; op: ">" | ">=" | "<" | "<=" | "==" | "!="; value: number }
);

/** A query the kernel would refuse; the message is the kernel's, in the page's language. */
export class QueryError extends Error {}

/** Terms of `query` (all must hold); QueryError with the kernel's message for a bad one. */
export function parseQuery(query: string): SearchTerm[] {
  if (query.length > MAX_QUERY) {
    throw new QueryError(__("the query is %1 characters long; the limit is %2", formatInteger(query.length),
      formatInteger(MAX_QUERY)));
  }
  const terms: SearchTerm[] = [];
  let pos = 0;
  for (;;) {
    while (pos < query.length && isSpace(query[pos])) pos++;
    if (pos >= query.length) return terms;
    if (terms.length === MAX_TERMS) throw new QueryError(_n("a query holds at most %1 term", "a query holds at most %1 terms", MAX_TERMS));
    const start = pos;
    const negate = query[pos] === "-";
    if (negate) {
      pos++;
      if (pos >= query.length || isSpace(query[pos])) {
        throw new QueryError(__("'-' at %1 must be followed by a term to leave out (e.g. -bias)", at(start)));
      }
    }
    const [term, end] = readTerm(query, pos);
    terms.push({ ...term, negate } as SearchTerm);
    pos = end;
  }
}

type Bare = { kind: string; [key: string]: unknown };

function readTerm(query: string, pos: number): [Bare, number] {
  if (query[pos] === '"') {
    const end = query.indexOf('"', pos + 1);
    if (end < 0) throw new QueryError(__('the quote at %1 is not closed: add a " after the text', at(pos)));
    if (end === pos + 1) throw new QueryError(__("empty quotes at %1: put the text to find between them", at(pos)));
    return [{ kind: "text", value: query.slice(pos + 1, end) }, end + 1];
  }
  COMPARE.lastIndex = pos;
  const compare = COMPARE.exec(query);
  if (compare) return comparison(query, pos, compare);
  let end = pos;
  while (end < query.length && !isSpace(query[end])) end++;
  const word = query.slice(pos, end);
  if ((FLAGS as readonly string[]).includes(word)) return [{ kind: "flag", flag: word }, end];
  const colon = word.indexOf(":");
  if (colon >= 0 && /^[A-Za-z_]+$/.test(word.slice(0, colon))) return [field(word.slice(0, colon), word.slice(colon + 1), pos), end];
  return [{ kind: WILD.test(word) ? "glob" : "text", value: word }, end];
}

function comparison(query: string, start: number, found: RegExpExecArray): [Bare, number] {
  const [, name, op] = found;
  const refuse = () => new QueryError(__("%1 at %2 needs a number, e.g. %3", `${name}${op}`, at(start), `${name}${op}1e6`));
  NUMBER.lastIndex = COMPARE.lastIndex;
  const number = NUMBER.exec(query);
  if (!number) throw refuse();
  let value = Number(number[0]);
  let end = NUMBER.lastIndex;
  const suffix = query[end]?.toLowerCase();
  if (suffix !== undefined && suffix in SUFFIX) {
    value *= SUFFIX[suffix];
    end++;
  }
  if (end < query.length && !isSpace(query[end])) throw refuse();
  return [{ kind: "compare", field: name, op: op === "=" ? "==" : op, value }, end];
}

function field(head: string, value: string, pos: number): Bare {
  if (!(FIELDS as readonly string[]).includes(head)) {
    throw new QueryError(__("unknown filter '%1' at %2; filters are %3 (quote text that holds a colon)", `${head}:`, at(pos),
      FIELDS.map((f) => `${f}:`).join(", ")));
  }
  if (!value) throw new QueryError(__("'%1' at %2 needs a value, e.g. %3", `${head}:`, at(pos), EXAMPLES[head]));
  if (head === "state" && !STATES.includes(value.toLowerCase())) {
    throw new QueryError(__("%1 at %2: a state is one of %3", `state:${value}`, at(pos), STATES.join(", ")));
  }
  if (head === "kind" && !KINDS.includes(value.toLowerCase())) {
    throw new QueryError(__("%1 at %2: a kind is one of %3", `kind:${value}`, at(pos), KINDS.join(", ")));
  }
  return { kind: "field", field: head, value };
}

/** Python's str.isspace for the characters a query holds in practice (JS \s is the same set plus U+FEFF). */
function isSpace(c: string): boolean {
  return /\s/.test(c) && c !== "\uFEFF";
}

/** The 1-based position of `index` in the query, as the kernel writes it (plain digits). */
function at(index: number): string {
  return String(index + 1);
}
