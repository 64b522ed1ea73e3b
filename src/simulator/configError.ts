// The error a bad simulator configuration raises; its message names the offending field.
export class ConfigError extends Error {}
