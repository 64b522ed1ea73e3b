import { RestError, createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { AuthenticationError } from '@azure/identity';
import { Writable } from 'node:stream';
import { createClientLogger } from '@azure/logger';
import { createLogger, forwardAzureSdkLogs, scrubLogLine } from './logger.js';

const ADMIN_PASSWORD = 'Adm1n-Passw0rd-in-template!';
const ARM_PASSWORD = 'Edge-Arm-User-Passw0rd!';
const CLIENT_SECRET = 'sp-client-secret-0123456789';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlLWJ5dGVz';
const SECRETS = [ADMIN_PASSWORD, ARM_PASSWORD, CLIENT_SECRET, JWT];

function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { log: createLogger('trace', stream, { azureSdkLogs: false }), text: () => chunks.join('') };
}

function leaks(text: string): string[] {
  return [...SECRETS.filter((s) => text.includes(s)), ...(/Bearer (?!\[REDACTED\])/.test(text) ? ['Bearer token'] : [])];
}

function armRestError(): RestError {
  const body = JSON.stringify({ properties: { parameters: { adminPassword: { value: ADMIN_PASSWORD } }, mode: 'Incremental' } });
  const request = createPipelineRequest({
    url: 'https://management.dev.example/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d?api-version=2019-10-01',
    method: 'PUT',
    headers: createHttpHeaders({ authorization: `Bearer ${JWT}`, 'content-type': 'application/json' }),
    body,
  });
  const response = { request, status: 500, headers: createHttpHeaders({ 'x-ms-request-id': 'r1' }), bodyAsText: `{"error":{"code":"InternalServerError","message":"echo ${body}"}}` };
  const err = new RestError('The server encountered an internal error.', { code: 'InternalServerError', statusCode: 500, request, response });
  // Like core-client's deserializer: the parsed error body is an enumerable property.
  (err as RestError & { details?: unknown }).details = { error: { code: 'InternalServerError', message: `request was ${body}` } };
  return err;
}

test('RestError objects log their code and status, never the request, its Authorization header or body', () => {
  const { log, text } = capture();
  const err = armRestError();
  log.error({ controller: 'gpuvm', key: 'ns/vm', err }, 'reconcile failed');
  log.trace({ error: err, cause: new Error('wrapped', { cause: err }) }, 'trace');
  log.debug({ request: err.request, response: err.response }, 'raw request and response');
  const out = text();
  expect(leaks(out)).toEqual([]);
  expect(out).toContain('"code":"InternalServerError"');
  expect(out).toContain('"statusCode":500');
});

test('identity errors (token requests failing) do not leak the password grant', () => {
  const { log, text } = capture();
  const body = `grant_type=password&username=EdgeArmUser&password=${encodeURIComponent(ARM_PASSWORD)}&client_id=c&client_secret=${CLIENT_SECRET}`;
  const auth = new AuthenticationError(400, { error: 'invalid_grant', error_description: `MSIS9659: Invalid 'username' or 'password'. Request: ${body}` });
  log.warn({ err: auth, device: 'dev' }, 'token request failed');
  log.error({ err: new Error(`request failed: ${body}`) }, 'raw message');
  log.error({ msal: { errorCode: 'invalid_grant', body: { password: ARM_PASSWORD, client_secret: CLIENT_SECRET, refresh_token: JWT } } }, 'nested');
  const out = text();
  expect(leaks(out)).toEqual([]);
  expect(out).toContain('invalid_grant');
  expect(out).toContain('username=EdgeArmUser');
});

test('secret-named fields are censored at any depth, in JSON quoted inside strings, and in messages', () => {
  const { log, text } = capture();
  log.info({ a: { b: { c: { d: { adminPassword: ADMIN_PASSWORD, clientSecret: CLIENT_SECRET, token: JWT } } } } }, 'deep');
  log.info({ secret: { stringData: { username: 'u', password: ARM_PASSWORD } } }, 'a Secret object');
  log.info({ headers: { Authorization: `Bearer ${JWT}`, 'x-other': 'kept' } }, 'headers');
  log.info({ detail: JSON.stringify({ deep: { password: ARM_PASSWORD } }) }, 'quoted JSON');
  log.info({}, `Authorization: Bearer ${JWT} was rejected`);
  const out = text();
  expect(leaks(out)).toEqual([]);
  expect(out).toContain('"x-other":"kept"');
  expect(out).toContain('"username":"u"');
});

test('scrubLogLine leaves ordinary lines alone', () => {
  const line = '{"level":"info","controller":"gpuvm","key":"ns/vm","informer":"secrets in namespace a","tokenExpiresIn":300,"msg":"Basic checks passed; Bearer of news"}\n';
  expect(scrubLogLine(line)).toBe(line);
  expect(scrubLogLine('{"adminPassword":"x\\"y","n":1}')).toBe('{"adminPassword":"[REDACTED]","n":1}');
  expect(scrubLogLine('{"m":"password=abc&user=u"}')).toBe('{"m":"password=[REDACTED]&user=u"}');
});

test('ARM secure parameters are censored, plain or quoted', () => {
  expect(scrubLogLine('{"adminPassword":{"value":"pw"}}')).toBe('{"adminPassword":{"value":"[REDACTED]"}}');
  expect(scrubLogLine('{"m":"{\\"adminPassword\\":{\\"value\\":\\"pw\\"}}"}')).toBe('{"m":"{\\"adminPassword\\":{\\"value\\":\\"[REDACTED]\\"}}"}');
});

test('Azure SDK logs are forwarded at trace level, scrubbed like everything else', () => {
  const { log, text } = capture();
  const stop = forwardAzureSdkLogs(log);
  try {
    const sdk = createClientLogger('core-rest-pipeline');
    sdk.info('Request: %s', JSON.stringify({ url: 'https://management.dev/x', headers: { authorization: `Bearer ${JWT}`, accept: 'application/json' } }));
    sdk.verbose(`token body password=${ARM_PASSWORD}&client_id=c`);
  } finally {
    stop();
  }
  createClientLogger('core-rest-pipeline').info('after stop');
  const out = text();
  expect(leaks(out)).toEqual([]);
  expect(out).toContain('"azureSdk":true');
  expect(out).toContain('https://management.dev/x');
  expect(out).not.toContain('after stop');
});
