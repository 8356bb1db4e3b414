/**
 * Who the server answers, checked once per request before any work (BitnetServer.handle):
 *
 * - `Host` must name this server: an IP literal (a DNS-rebinding page cannot make a browser send one for
 *   another name), `localhost`, the `--host` it was started with, or a name in `--allowed-hosts`
 *   ('*' = any). A page on evil.example rebound to 127.0.0.1 sends `Host: evil.example` and is refused.
 * - `Origin`, when a browser sends one, must be the server's own (same host as `Host`) or listed with
 *   `--cors` ('*' = any): cross-site pages get 403 before anything is generated.
 * - POST bodies must be `content-type: application/json`: a cross-site "simple" request (text/plain,
 *   form encodings) cannot reach the JSON endpoints even where no Origin is sent.
 *
 * An API key that is set but empty (an unset shell variable) is refused at start: it would turn
 * authentication off silently.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Tokenizer } from '../tokenizer/types.js';

export interface GuardOptions {
  /** Origins whose browser pages may call the API (CORS); '*' for any. Default: none. */
  cors?: string[];
  /** Host names (besides IP literals, localhost and the bound --host) that requests may address; '*' = any. */
  allowedHosts?: string[];
}

export interface Refusal { status: number; message: string; code: string }

/** Throws when a key is given but empty: `--api-key ""` must not mean "no authentication". */
export function checkApiKey(key: string | undefined, source = '--api-key'): void {
  if (key !== undefined && key.trim() === '') {
    throw new Error(`${source} is empty: give a non-empty key, or leave it out to serve without authentication`);
  }
}

/** Host part of a Host header or URL authority, without port and brackets, lower case. */
function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  const colon = a.lastIndexOf(':');
  return colon >= 0 && a.indexOf(':') === colon ? a.slice(0, colon) : a;
}

export class RequestGuard {
  private readonly hosts: Set<string>;
  private readonly anyHost: boolean;
  private readonly cors: Set<string>;

  constructor(boundHost: string, o: GuardOptions = {}) {
    const extra = (o.allowedHosts ?? []).map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
    this.anyHost = extra.includes('*');
    this.hosts = new Set(['localhost', hostName(boundHost), ...extra.map(hostName)]);
    this.cors = new Set((o.cors ?? []).map((c) => c.replace(/\/+$/, '')));
  }

  /** Why this request is refused, or undefined when it may go on. */
  check(req: IncomingMessage): Refusal | undefined {
    const host = req.headers.host;
    if (host !== undefined && !this.anyHost) {
      const name = hostName(host);
      if (!isIP(name) && !this.hosts.has(name) && !name.endsWith('.localhost')) {
        return { status: 403, code: 'host_not_allowed',
                 message: `Host '${host}' is not this server's (start it with --allowed-hosts ${name} to serve that name)` };
      }
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.cors.has('*') && !this.cors.has(origin)) {
      let own = false;
      try { own = host !== undefined && new URL(origin).host.toLowerCase() === host.toLowerCase(); } catch { /* "null" or garbage */ }
      if (!own) return { status: 403, code: 'origin_not_allowed', message: `cross-origin requests from ${origin} are not allowed (see --cors)` };
    }
    if (req.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') {
        return { status: 415, code: 'unsupported_media_type', message: `POST bodies must be content-type: application/json, got '${type || '(none)'}'` };
      }
    }
    return undefined;
  }
}

/**
 * The longest text (UTF-16 units) that can still fit in `maxTokens` tokens: no token covers more text
 * than its vocabulary string is long (byte-level BPE spells each byte as one character; SentencePiece
 * spells the text itself), so longer text is refused before the tokenizer spends time on it.
 */
export function maxPromptChars(tok: Tokenizer, maxTokens: number): number {
  let longest = longestPiece.get(tok);
  if (longest === undefined) {
    longest = 1;
    for (let i = 0; i < tok.vocabSize; i++) longest = Math.max(longest, tok.piece(i).length);
    longestPiece.set(tok, longest);
  }
  return maxTokens * longest;
}
const longestPiece = new WeakMap<Tokenizer, number>();
