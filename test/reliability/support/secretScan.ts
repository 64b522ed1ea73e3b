// Finds secrets in captured text (logs, Events, object status): known secret values (as written, JSON-escaped
// or base64-encoded, as a logged Secret object would carry them), JWT-shaped strings and Authorization
// Bearer credentials. Hits are reported with the secret masked.
import type { V1Secret } from '@kubernetes/client-node';

/** Secret keys whose values are secrets: passwords, client secrets, tokens, private keys. */
const SECRET_KEY = /pass|secret|token|\.key$|private/i;
/** Shorter values would match ordinary words; they are counted but not searched. */
export const MIN_SECRET_LENGTH = 8;

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
/** A credential after "Bearer", not the logger's "[REDACTED]" (brackets are not token characters). */
const BEARER = /Bearer\s+[A-Za-z0-9\-._~+/]{16,}=*/g;

export interface SecretHit {
  source: string;
  /** 1-based line within the source. */
  line: number;
  what: string;
  /** The line, shortened around the hit, with every secret in it masked. */
  excerpt: string;
}

export interface SecretValues {
  /** Distinct values searched for. */
  values: string[];
  /** Values under secret-looking keys too short to search for without false hits. */
  tooShort: number;
}

/** Values under the secret-looking keys of every Secret, plus any extra known secrets. */
export function secretValuesOf(secrets: readonly V1Secret[], extra: readonly string[] = []): SecretValues {
  const found = new Set<string>(extra);
  for (const secret of secrets) {
    for (const [key, data] of Object.entries(secret.data ?? {})) {
      if (SECRET_KEY.test(key)) found.add(Buffer.from(data, 'base64').toString('utf8'));
    }
  }
  const values = new Set<string>();
  let tooShort = 0;
  for (const value of found) {
    // A multi-line value (a PEM key) is searched line by line, its markers left out.
    const parts = value.includes('\n') ? value.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')) : [value];
    for (const part of parts) {
      if (part.length < MIN_SECRET_LENGTH) tooShort++;
      else values.add(part);
    }
  }
  return { values: [...values], tooShort };
}

const mask = (secret: string): string => `${secret.slice(0, 2)}…[${secret.length} chars masked]`;

export class SecretScanner {
  /** Each searched form of each value, with what to call it in a report. */
  private readonly needles: { needle: string; what: string }[] = [];
  linesScanned = 0;

  constructor(values: readonly string[]) {
    for (const [index, value] of values.entries()) {
      const forms = new Map<string, string>();
      // A form equal to an earlier one (JSON escaping changes nothing in most passwords) is searched once.
      for (const [needle, what] of [
        [value, 'secret value'],
        [JSON.stringify(value).slice(1, -1), 'secret value (JSON-escaped)'],
        [Buffer.from(value).toString('base64'), 'secret value (base64)'],
      ] as const) {
        if (!forms.has(needle)) forms.set(needle, what);
      }
      for (const [needle, what] of forms) this.needles.push({ needle, what: `${what} #${index + 1}` });
    }
  }

  /** Scans `text` line by line; `source` names it in the hits (a file path, "Event ns/name", …). */
  scan(source: string, text: string): SecretHit[] {
    const hits: SecretHit[] = [];
    text.split('\n').forEach((line, i) => {
      this.linesScanned++;
      const found: string[] = [];
      for (const { needle, what } of this.needles) if (line.includes(needle)) found.push(what);
      for (const [pattern, what] of [
        [JWT, 'JWT'],
        [BEARER, 'Bearer credential'],
      ] as const) {
        found.push(...Array.from(line.matchAll(pattern), () => what));
      }
      for (const what of found) hits.push({ source, line: i + 1, what, excerpt: this.masked(line) });
    });
    return hits;
  }

  /** The line with every known secret and token masked, shortened around the first one. */
  private masked(line: string): string {
    let out = line;
    for (const { needle } of this.needles) out = out.split(needle).join(mask(needle));
    out = out.replace(BEARER, (m) => mask(m)).replace(JWT, (m) => mask(m));
    const at = Math.max(0, out.indexOf('…[') - 100);
    return `${at > 0 ? '…' : ''}${out.slice(at, at + 300)}${out.length > at + 300 ? '…' : ''}`;
  }
}

export const formatHits = (hits: readonly SecretHit[]): string => hits.map((h) => `${h.source}:${h.line}: ${h.what}: ${h.excerpt}`).join('\n');
