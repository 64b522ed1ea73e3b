import type { V1Secret } from '@kubernetes/client-node';
import { AdminSecretReader, type SecretFetchResult } from './adminSecrets.js';
import { SecretRetryBackoff } from './secretRetry.js';

const secret = (data: Record<string, string>): V1Secret => ({ metadata: { name: 's' }, stringData: data });

describe('AdminSecretReader', () => {
  let now = 0;
  const answers = new Map<string, SecretFetchResult>();
  const fetched: string[] = [];
  const reader = (entries = 2, ttlMs = 1000) =>
    new AdminSecretReader(
      async (ns, name) => {
        fetched.push(`${ns}/${name}`);
        return answers.get(`${ns}/${name}`) ?? { kind: 'missing' };
      },
      { now: () => now },
      { entries, ttlMs },
    );
  beforeEach(() => {
    now = 0;
    answers.clear();
    fetched.length = 0;
  });

  it('caches a usable Secret until its TTL, and only that', async () => {
    const r = reader();
    answers.set('a/ok', { kind: 'found', secret: secret({ username: 'u', password: 'p' }) });
    answers.set('a/bad', { kind: 'found', secret: secret({ password: 'p' }) });
    answers.set('a/no', { kind: 'forbidden' });
    expect(await r.read('a', 'ok')).toEqual({ view: { state: 'ok' }, credentials: { username: 'u', password: 'p' } });
    expect(await r.read('a', 'ok')).toEqual({ view: { state: 'ok' }, credentials: { username: 'u', password: 'p' } });
    expect(await r.read('a', 'bad')).toEqual({ view: { state: 'invalid', problem: 'key username is missing or empty' } });
    expect(await r.read('a', 'bad')).toMatchObject({ view: { state: 'invalid' } });
    expect(await r.read('a', 'no')).toEqual({ view: { state: 'forbidden' } });
    expect(await r.read('a', 'gone')).toEqual({ view: { state: 'missing' } });
    expect(fetched).toEqual(['a/ok', 'a/bad', 'a/bad', 'a/no', 'a/gone']);
    now = 1001;
    await r.read('a', 'ok');
    expect(fetched.at(-1)).toBe('a/ok');
    expect(r.requests).toBe(6);
  });

  it('holds at most its entry limit, evicting the least recently used', async () => {
    const r = reader(2);
    for (const n of ['x', 'y', 'z']) answers.set(`a/${n}`, { kind: 'found', secret: secret({ username: 'u', sshPublicKey: 'k' }) });
    await r.read('a', 'x');
    await r.read('a', 'y');
    await r.read('a', 'x');
    await r.read('a', 'z');
    expect(r.cachedEntries).toBe(2);
    fetched.length = 0;
    await r.read('a', 'x');
    await r.read('a', 'y');
    expect(fetched).toEqual(['a/y']);
  });

  it('reads of one Secret at the same time share one GET', async () => {
    const r = reader();
    answers.set('a/shared', { kind: 'found', secret: secret({ username: 'u', password: 'p' }) });
    const reads = await Promise.all([r.read('a', 'shared'), r.read('a', 'shared'), r.read('a', 'shared')]);
    expect(reads.map((x) => x.view.state)).toEqual(['ok', 'ok', 'ok']);
    expect(fetched).toEqual(['a/shared']);
    // A missing Secret is not cached, but simultaneous reads still share its GET.
    await Promise.all([r.read('a', 'gone'), r.read('a', 'gone')]);
    expect(fetched).toEqual(['a/shared', 'a/gone']);
    await r.read('a', 'gone');
    expect(fetched).toEqual(['a/shared', 'a/gone', 'a/gone']);
  });
});

describe('SecretRetryBackoff', () => {
  it('doubles from the base to the cap, per key, until reset', () => {
    const b = new SecretRetryBackoff(1000, 30_000);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => b.next('k'))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(b.next('other')).toBe(1000);
    b.reset('k');
    expect(b.next('k')).toBe(1000);
  });
});
