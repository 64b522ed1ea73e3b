import { RestError } from '@azure/core-rest-pipeline';
import { AdfsTokenError } from './adfsPasswordCredential.js';
import { DeviceResponseError } from './deviceResponseError.js';
import { asUnreadableAnswer } from './unreadableAnswerPolicy.js';

test.each([
  ['a TypeError from a deserializer', new TypeError('result.map is not a function')],
  ['a RangeError', new RangeError('Invalid array length')],
  ['a SyntaxError', new SyntaxError('Unexpected token')],
])('%s becomes an unreadable answer naming the request', (_what, err) => {
  const out = asUnreadableAnswer('GET https://dev/x', err);
  expect(out).toBeInstanceOf(DeviceResponseError);
  expect((out as Error).message).toMatch(/^GET https:\/\/dev\/x: the answer could not be read/);
});

test.each([
  ['an HTTP error', new RestError('nope', { statusCode: 500 })],
  ['a refused sign-in', new AdfsTokenError('ADFS refused the token (invalid_grant)', 'invalid_grant')],
  ['an abort', Object.assign(new Error('aborted'), { name: 'AbortError' })],
  ['any other error', new Error('socket hang up')],
])('%s keeps its own type', (_what, err) => {
  expect(asUnreadableAnswer('GET https://dev/x', err)).toBe(err);
});
