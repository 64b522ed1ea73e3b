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
];

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): PinoLogger {
  const options = {
    level,
    base: { name: 'gpuvm-controller' },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, destination as pino.DestinationStream);
}
