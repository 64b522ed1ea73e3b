import { AzureLogger, setLogLevel as setAzureLogLevel } from '@azure/logger';
import { format } from 'node:util';
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

/**
 * Sends the Azure SDK's own logs (each HTTP request and response with headers the SDK sanitizes, retries,
 * long-running operation polling, token acquisition) to `log` at trace level. Process-wide: the SDK has one
 * logger. Returns a function that turns the forwarding off again.
 */
export function forwardAzureSdkLogs(log: Pick<PinoLogger, 'trace'>): () => void {
  const previous = AzureLogger.log;
  AzureLogger.log = (...args: unknown[]) => log.trace({ azureSdk: true }, format(...args));
  setAzureLogLevel('verbose');
  return () => {
    setAzureLogLevel();
    AzureLogger.log = previous;
  };
}

export interface LoggerOptions {
  /** Forward the Azure SDK's logs at trace level (default: when the level is trace). */
  azureSdkLogs?: boolean;
}

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream, loggerOptions: LoggerOptions = {}): PinoLogger {
  const options = {
    level,
    base: { name: 'gpuvm-controller' },
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    hooks: { streamWrite: scrubLogLine },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const logger = destination === undefined ? pino(options) : pino(options, destination as pino.DestinationStream);
  if (loggerOptions.azureSdkLogs ?? level === 'trace') forwardAzureSdkLogs(logger);
  return logger;
}
