import { MetricsAuthorizer, type AccessReviewer } from './metricsAuthorizer.js';

function reviewer(tokens: Record<string, { user: string; allowed: boolean }>): AccessReviewer & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    authenticate: async (token) => {
      calls.push('authenticate');
      const t = tokens[token];
      return t === undefined ? undefined : { user: t.user, groups: [] };
    },
    authorize: async (user) => {
      calls.push('authorize');
      return Object.values(tokens).some((t) => t.user === user.user && t.allowed);
    },
  };
}

const tokens = { good: { user: 'system:serviceaccount:monitoring:prometheus', allowed: true }, other: { user: 'system:serviceaccount:x:y', allowed: false } };

test.each([
  [undefined, 401],
  ['', 401],
  ['Basic Zm9vOmJhcg==', 401],
  ['Bearer', 401],
  ['Bearer unknown', 401],
  ['Bearer other', 403],
  ['Bearer good', 200],
  [`Bearer ${'a'.repeat(9000)}`, 401],
])('Authorization %j → %i', async (header, status) => {
  const decision = await new MetricsAuthorizer(reviewer(tokens)).decide(header, '/metrics');
  expect(decision.status).toBe(status);
  expect(decision.reason).not.toContain('good');
});

test('reuses a decision for the same token until it expires, never keeping the token', async () => {
  let now = 0;
  const r = reviewer(tokens);
  const authorizer = new MetricsAuthorizer(r, { ttlMs: 1000, now: () => now });
  for (let i = 0; i < 10; i++) expect((await authorizer.decide('Bearer good', '/metrics')).status).toBe(200);
  expect(r.calls).toEqual(['authenticate', 'authorize']);
  now = 1001;
  await authorizer.decide('Bearer good', '/metrics');
  expect(r.calls).toHaveLength(4);
  expect(JSON.stringify([...(authorizer as unknown as { decisions: Map<string, unknown> }).decisions.keys()])).not.toContain('good');
});

test('keeps at most maxEntries decisions', async () => {
  const r = reviewer(tokens);
  const authorizer = new MetricsAuthorizer(r, { maxEntries: 3 });
  for (let i = 0; i < 50; i++) await authorizer.decide(`Bearer t${i}`, '/metrics');
  expect((authorizer as unknown as { decisions: Map<string, unknown> }).decisions.size).toBe(3);
});

test('a review that fails is not cached: the next scrape asks again', async () => {
  let fail = true;
  const authorizer = new MetricsAuthorizer({
    authenticate: async () => {
      if (fail) throw new Error('apiserver unavailable');
      return { user: 'u', groups: [] };
    },
    authorize: async () => true,
  });
  await expect(authorizer.decide('Bearer x', '/metrics')).rejects.toThrow('apiserver unavailable');
  fail = false;
  expect((await authorizer.decide('Bearer x', '/metrics')).status).toBe(200);
});
