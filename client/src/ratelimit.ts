/**
 * The IETF rate-limit fields (draft-ietf-httpapi-ratelimit-headers, as
 * PROTOCOL.md §2 "Rate limits" sends them):
 *
 *   RateLimit-Policy: "sends";q=20;w=7     q: the quota (burst), w: its window in s
 *   RateLimit: "sends";r=0;t=1             r: requests left, t: s until the next one
 *
 * Both are structured-field Lists (RFC 9651) of items named by a String (a
 * Token is accepted too) with parameters. Parsing is forgiving: a member
 * that cannot be parsed is skipped, a parameter that is not a non-negative
 * Integer is ignored, and the rest is kept.
 */

/** One quota policy as the last response that described it told. */
export interface RateLimitInfo {
  /** The policy's name, e.g. "sends", "idle", "negotiate". */
  policy: string;
  /** Requests left (`r`). */
  remaining?: number;
  /** Until the next request is allowed / the window resets (`t`), in ms. */
  resetInMs?: number;
  /** The quota (`q`). */
  quota?: number;
  /** The quota's window (`w`), in ms. */
  windowMs?: number;
  /** When the response came (the client's clock). */
  at: number;
}

/** The largest Integer a structured field carries (RFC 9651 §3.3.1). */
const MAX_SF_INT = 999_999_999_999_999;

/** Splits a List at its top-level commas, leaving commas inside Strings and Inner Lists alone. */
function members(v: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(v.slice(start, i));
      start = i + 1;
    }
  }
  out.push(v.slice(start));
  return out;
}

/** A member's name: a String (printable ASCII, `\"` and `\\` escaped) or a Token, then its parameters or nothing. */
const NAME = /^[ \t]*(?:"((?:[ !#-[\]-~]|\\["\\])*)"|([A-Za-z*][\w!#$%&'*+.^`|~:/-]*))[ \t]*(?=;|$)/;
/** One parameter; a String value may hold a ';'. */
const PARAM = /;[ \t]*([a-z*][a-z0-9_.*-]*)(?:=("(?:[^"\\]|\\.)*"|[^;]*))?/g;

/**
 * Parses one List member: its name and those of its parameters that are
 * non-negative Integers (others are ignored). Undefined when the member is
 * not an Item named by a String or Token.
 */
function item(m: string): { name: string; params: Map<string, number> } | undefined {
  const n = NAME.exec(m);
  if (!n) return undefined;
  const params = new Map<string, number>();
  for (const [, key, raw] of m.slice(n[0].length).matchAll(PARAM)) {
    const v = raw?.trim() ?? '';
    // A later duplicate overrides (RFC 9651 §4.2.3.2).
    if (/^\d{1,15}$/.test(v)) params.set(key!, Math.min(Number(v), MAX_SF_INT));
  }
  return { name: n[1] !== undefined ? n[1].replace(/\\(.)/g, '$1') : n[2]!, params };
}

/** Parses a field value into its named items (the last one wins for a repeated name). */
export function parseLimitField(value: string | null | undefined): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  if (typeof value !== 'string' || value.length > 4096) return out;
  for (const m of members(value)) {
    const it = item(m);
    if (it) out.set(it.name, it.params);
  }
  return out;
}

/**
 * Combines RateLimit and RateLimit-Policy into one RateLimitInfo per
 * policy, in order of appearance. Policies with none of r, t, q, w are left
 * out.
 */
export function parseRateLimit(rateLimit: string | null | undefined, policy: string | null | undefined, now: number): RateLimitInfo[] {
  const lim = parseLimitField(rateLimit);
  const pol = parseLimitField(policy);
  const out: RateLimitInfo[] = [];
  for (const name of new Set([...lim.keys(), ...pol.keys()])) {
    const l = lim.get(name);
    const p = pol.get(name);
    const info: RateLimitInfo = { policy: name, at: now };
    const r = l?.get('r');
    const t = l?.get('t');
    const q = p?.get('q');
    const w = p?.get('w');
    if (r !== undefined) info.remaining = r;
    if (t !== undefined) info.resetInMs = t * 1000;
    if (q !== undefined) info.quota = q;
    if (w !== undefined) info.windowMs = w * 1000;
    if (r !== undefined || t !== undefined || q !== undefined || w !== undefined) out.push(info);
  }
  return out;
}

/** The RateLimit fields of a response. */
export function limitsOf(headers: Headers, now: number): RateLimitInfo[] {
  return parseRateLimit(headers.get('RateLimit'), headers.get('RateLimit-Policy'), now);
}

/**
 * How long the fields say to wait before the next request: the longest `t`
 * of a policy with nothing left (r=0), in ms; 0 when none is exhausted.
 */
export function exhaustedForMs(infos: readonly RateLimitInfo[]): number {
  let ms = 0;
  for (const i of infos) if (i.remaining === 0 && i.resetInMs) ms = Math.max(ms, i.resetInMs);
  return ms;
}
