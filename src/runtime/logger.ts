// The logging port of the runtime: the subset of pino's API it uses, so a pino logger can be passed as is.

export interface Logger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  /** A logger that adds `bindings` to every line (pino's child); optional. */
  child?(bindings: object): Logger;
}

const ignore = (): void => undefined;

/** Discards everything. */
export const noopLogger: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore };
