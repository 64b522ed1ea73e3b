import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

/**
 * Paths pino censors wherever they appear in a log object. Secrets also never reach log objects by
 * construction (errors are described by describeArmError); this is the second line of defence.
 */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'Password',
  '*.Password',
  'adminPassword',
  '*.adminPassword',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  'access_token',
  '*.access_token',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'Authorization',
  '*.Authorization',
  'headers.authorization',
  '*.headers.authorization',
  'request.headers',
  '*.request.headers',
  'parameters',
  '*.parameters',
  // Request and response bodies (ARM deployments carry the admin password as a secure parameter).
  'body',
  '*.body',
  '*.*.body',
  'bodyAsText',
  '*.bodyAsText',
  '*.*.bodyAsText',
];

const CENSOR = '[REDACTED]';
/** JSON keys whose string values are secrets wherever they appear (any depth): adminPassword, client_secret, id_token… */
const SECRET_KEY = String.raw`[\w$.-]*(?:password|passwd|secret|token|authorization|assertion|cookie)`;
const SECRET_FIELD = new RegExp(String.raw`("${SECRET_KEY}"\s*:\s*)"(?:[^"\\]|\\.)*"`, 'gi');
/** The same inside a JSON string (an error message quoting a request body): \"password\":\"…\" */
const SECRET_FIELD_ESCAPED = new RegExp(String.raw`(\\"${SECRET_KEY}\\"\s*:\s*)\\"(?:[^"\\]|\\[^"])*\\"`, 'gi');
/** ARM secure parameters: "adminPassword":{"value":"…"}, plain and inside a JSON string. */
const SECRET_PARAMETER = new RegExp(String.raw`("${SECRET_KEY}"\s*:\s*\{\s*"value"\s*:\s*)"(?:[^"\\]|\\.)*"`, 'gi');
const SECRET_PARAMETER_ESCAPED = new RegExp(String.raw`(\\"${SECRET_KEY}\\"\s*:\s*\{\s*\\"value\\"\s*:\s*)\\"(?:[^"\\]|\\[^"])*\\"`, 'gi');
/** Form-encoded secrets, e.g. a token request body quoted in an error: password=…&client_secret=… */
const SECRET_FORM_FIELD = /\b((?:password|client_secret|client_assertion|refresh_token|access_token|assertion)=)[^&"\s\\]*/gi;
const BEARER = /\b(Bearer|Basic)\s+(?=[\w.~+/=-]{8})[\w.~+/=-]+/g;
const JWT = /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g;

/**
 * The last line of defence, on every serialized log line: censors secret-named fields at any depth (pino's
 * redact paths only reach fixed depths), form-encoded secrets, Bearer/Basic credentials and JWTs.
 */
export function scrubLogLine(line: string): string {
  return line
    .replace(SECRET_FIELD, `$1"${CENSOR}"`)
    .replace(SECRET_FIELD_ESCAPED, `$1\\"${CENSOR}\\"`)
    .replace(SECRET_PARAMETER, `$1"${CENSOR}"`)
    .replace(SECRET_PARAMETER_ESCAPED, `$1\\"${CENSOR}\\"`)
    .replace(SECRET_FORM_FIELD, `$1${CENSOR}`)
    .replace(BEARER, `$1 ${CENSOR}`)
    .replace(JWT, CENSOR);
}

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): PinoLogger {
  const options = {
    level,
    base: { name: 'gpuvm-controller' },
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    hooks: { streamWrite: scrubLogLine },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, destination as pino.DestinationStream);
}
