import { RestError } from '@azure/core-rest-pipeline';
import { DeviceThrottledError } from '../azure/deviceResponseError.js';
import { actionFailureMessage, actionFailureReason, failedActionConditions, isThrottled, redactSecretsIn } from './actionFailures.js';

describe('actionFailureReason', () => {
  it.each([
    ['an ARM error code', new RestError('bad', { code: 'InvalidParameter', statusCode: 400 }), 'InvalidParameter'],
    ['only an HTTP status', new RestError('bad', { statusCode: 403 }), 'Http403'],
    ['a network error code', Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'ECONNRESET'],
    ['a code that is not an identifier', new RestError('bad', { code: 'Microsoft.Compute/Bad Thing!', statusCode: 400 }), 'MicrosoftComputeBadThing'],
    ['a code that starts with a digit', new RestError('bad', { code: '400', statusCode: 400 }), 'ArmRequestFailed'],
    ['a huge code', new RestError('bad', { code: 'A'.repeat(5000), statusCode: 400 }), 'A'.repeat(64)],
    ['no code at all', new Error('plain'), 'ArmRequestFailed'],
  ])('%s', (_what, err, expected) => {
    expect(actionFailureReason(err)).toBe(expected);
  });
});

describe('actionFailureMessage', () => {
  it('says what failed and removes values the request carried that the device echoed back', () => {
    const err = new RestError("The value 'Hunter2-Secret' is not allowed", { code: 'InvalidParameter', statusCode: 400 });
    const message = actionFailureMessage('deployment gpuvm-vm-1', err, ['Hunter2-Secret', undefined]);
    expect(message).toMatch(/^deployment gpuvm-vm-1 failed: InvalidParameter: The value '\[redacted\]' is not allowed.*; retrying with backoff$/);
    expect(message).not.toContain('Hunter2-Secret');
  });
});

test('failedActionConditions sets the action condition, Ready and Reconciling', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const conditions = failedActionConditions([], 'VmProvisioned', 'InvalidParameter', 'm', 3, now);
  expect(conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).toEqual([
    ['VmProvisioned', 'False', 'InvalidParameter', 3],
    ['Ready', 'False', 'InvalidParameter', 3],
    ['Reconciling', 'True', 'InvalidParameter', 3],
  ]);
});

test.each([
  ['a 429', new RestError('slow down', { statusCode: 429 }), true],
  ['an error that asks to be retried later', Object.assign(new Error('later'), { retryAfterMs: 5000 }), true],
  ['a write the device budget refused', new DeviceThrottledError('the write budget is spent', 700), true],
  ['a 400', new RestError('bad', { code: 'InvalidParameter', statusCode: 400 }), false],
  ['a 503', new RestError('down', { statusCode: 503 }), false],
])('isThrottled: %s → %s', (_what, err, expected) => {
  expect(isThrottled(err)).toBe(expected);
});

test('redactSecretsIn scrubs an echoed secret from the error the reconcile rethrows, keeping its type and fields', () => {
  const err = new RestError("The value 'Sup3r-Secret-Adm1n' of parameter 'adminPassword' is not allowed", { code: 'InvalidParameter', statusCode: 400 });
  (err as { details?: unknown }).details = { error: { message: "value 'Sup3r-Secret-Adm1n'" } };
  const out = redactSecretsIn(err, ['Sup3r-Secret-Adm1n', undefined]);
  expect(out).toBe(err);
  expect(err.message).toBe("The value '[redacted]' of parameter 'adminPassword' is not allowed");
  expect(err.stack).not.toContain('Sup3r-Secret-Adm1n');
  expect(JSON.stringify((err as { details?: unknown }).details)).not.toContain('Sup3r-Secret-Adm1n');
  expect({ code: err.code, statusCode: err.statusCode }).toEqual({ code: 'InvalidParameter', statusCode: 400 });
});
