import type { CheckResult } from './check.js';
import { REDACTED, buildReport, redactText } from './report.js';
import { renderTable } from './table.js';

const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJFZGdlQXJtVXNlciJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('doctor report redaction', () => {
  it('removes known secrets, bearer tokens, JWTs and SAS signatures from text', () => {
    const text = `password Hunter2-Secret! Authorization: Bearer abc.def-ghi token ${jwt} url https://x/blob?sv=2020&sig=AbCd%2Bef&se=2027`;
    const out = redactText(text, ['Hunter2-Secret!']);
    expect(out).not.toContain('Hunter2-Secret!');
    expect(out).not.toContain('abc.def-ghi');
    expect(out).not.toContain(jwt);
    expect(out).not.toContain('AbCd%2Bef');
    expect(out).toContain(`sig=${REDACTED}`);
  });

  it('drops secret-named fields and redacts every string of the run', () => {
    const checks: CheckResult[] = [
      { id: 'token', title: 'ADFS token', status: 'FAIL', summary: 'refused for pw S3cr3t-Value-1', fix: 'fix it', details: { password: 'x', nested: { clientSecret: 'y', note: 'S3cr3t-Value-1' } } },
    ];
    const report = buildReport({ source: 'flags', startedAt: 't0', finishedAt: 't1', results: checks, failed: true }, { armEndpoint: 'https://a', loginEndpoint: 'https://l', subscriptionId: 's', resourceGroup: 'rg' }, ['S3cr3t-Value-1']);
    const text = JSON.stringify(report);
    expect(text).not.toContain('S3cr3t-Value-1');
    expect(report.checks[0]?.details).toEqual({ password: REDACTED, nested: { clientSecret: REDACTED, note: REDACTED } });
    expect(report.result).toBe('FAIL');
  });
});

describe('doctor table', () => {
  it('shows one row per check with the fix under WARN and FAIL only', () => {
    const table = renderTable([
      { id: 'a', title: 'first', status: 'PASS', summary: 'fine', fix: 'unused' },
      { id: 'b', title: 'second check', status: 'FAIL', summary: 'broken', fix: 'repair it' },
    ]);
    expect(table).toMatch(/^PASS\s+first\s+fine$/m);
    expect(table).toMatch(/^FAIL\s+second check\s+broken$/m);
    expect(table).toMatch(/^\s+fix: repair it$/m);
    expect(table).not.toContain('unused');
    expect(table).toContain('1 passed, 0 warning(s), 1 failed, 0 skipped');
  });
});
