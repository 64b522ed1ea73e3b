// The --device-{read,write}-{rate,burst} flags of `run`: the per-device ARM budget.
import { ARM_SUBSCRIPTION_LIMITS, type DeviceBudgetLimits } from '../azure/deviceBudget.js';

export interface DeviceBudgetFlags {
  'device-read-rate'?: string | undefined;
  'device-read-burst'?: string | undefined;
  'device-write-rate'?: string | undefined;
  'device-write-burst'?: string | undefined;
}

export const DEVICE_BUDGET_USAGE = `  --device-read-rate N               ARM reads (GET) per second to one device, sustained (default ${ARM_SUBSCRIPTION_LIMITS.read.ratePerSecond})
  --device-read-burst N              ARM reads to one device at once after a quiet time (default ${ARM_SUBSCRIPTION_LIMITS.read.burst})
  --device-write-rate N              ARM writes (PUT, PATCH, POST, DELETE) per second to one device, sustained (default ${ARM_SUBSCRIPTION_LIMITS.write.ratePerSecond})
  --device-write-burst N             ARM writes to one device at once after a quiet time (default ${ARM_SUBSCRIPTION_LIMITS.write.burst});
                                     the defaults are ARM's per-subscription token buckets, and each device is one
                                     subscription; a request over the budget is requeued for when it may go
`;

function rate(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new Error(`${flag}: "${text}" must be a positive number of requests per second, e.g. 10 or 0.5`);
  return value;
}

function burst(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) throw new Error(`${flag}: "${text}" must be a whole number of requests of at least 1`);
  return value;
}

/** The budget the flags ask for: ARM's per-subscription limits for what they leave out. */
export function deviceBudgetLimits(flags: DeviceBudgetFlags): DeviceBudgetLimits {
  const { read, write } = ARM_SUBSCRIPTION_LIMITS;
  return {
    read: { ratePerSecond: rate(flags['device-read-rate'], '--device-read-rate', read.ratePerSecond), burst: burst(flags['device-read-burst'], '--device-read-burst', read.burst) },
    write: { ratePerSecond: rate(flags['device-write-rate'], '--device-write-rate', write.ratePerSecond), burst: burst(flags['device-write-burst'], '--device-write-burst', write.burst) },
  };
}
