// Fault injection: rules by operation (and device) firing at a seeded rate or on an exact sequence.
import type { FaultKind, FaultRule } from './config.js';
import { normalizeFault } from './config.js';
import type { Random } from './random.js';
import { seededRandom } from './random.js';

interface RuleState {
  rule: FaultRule;
  seen: number;
  injected: number;
}

export interface InjectedFault {
  kind: FaultKind;
  rule: FaultRule;
}

function operationMatches(pattern: string, operation: string): boolean {
  if (pattern === '*') return true;
  const p = pattern.toLowerCase();
  const op = operation.toLowerCase();
  if (p.endsWith('.*')) return op.startsWith(p.slice(0, -1));
  return p === op;
}

export class FaultInjector {
  private rules: RuleState[] = [];
  private random: Random;

  constructor(rules: FaultRule[], seed: number) {
    this.random = seededRandom(seed);
    this.set(rules, seed);
  }

  /** Replaces all rules (and reseeds when a seed is given). */
  set(rules: FaultRule[], seed?: number): void {
    if (seed !== undefined) this.random = seededRandom(seed);
    this.rules = rules.map((rule, i) => ({ rule: normalizeFault(rule, `faults[${i}]`), seen: 0, injected: 0 }));
  }

  add(rule: FaultRule): void {
    this.rules.push({ rule: normalizeFault(rule), seen: 0, injected: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  list(): { rule: FaultRule; seen: number; injected: number }[] {
    return this.rules.map((r) => ({ rule: r.rule, seen: r.seen, injected: r.injected }));
  }

  /**
   * The faults of the given kinds that fire for this operation now (each matching rule advances).
   * `device` names the request's target: a device, "azure", or both for Azure-side device requests.
   */
  take(operation: string, device: string | readonly string[], kinds: readonly FaultKind[]): InjectedFault[] {
    const fired: InjectedFault[] = [];
    const devices = (typeof device === 'string' ? [device] : device).map((d) => d.toLowerCase());
    for (const state of this.rules) {
      const { rule } = state;
      if (!kinds.includes(rule.kind)) continue;
      if (rule.device !== undefined && !devices.includes(rule.device.toLowerCase())) continue;
      if (!operationMatches(rule.operation, operation)) continue;
      if (rule.count !== undefined && state.injected >= rule.count) continue;
      const index = state.seen++;
      let fire: boolean;
      if (rule.sequence !== undefined) fire = rule.sequence[index] ?? false;
      else fire = this.random() < (rule.rate ?? 1);
      if (fire) {
        state.injected++;
        fired.push({ kind: rule.kind, rule });
      }
    }
    return fired;
  }
}

/** The error of a provisioningFailed fault, when one fires for this operation. */
export function injectedProvisioningFailure(faults: FaultInjector, operation: string, device: string | readonly string[]): { code: string; message: string } | undefined {
  const fired = faults.take(operation, device, ['provisioningFailed'])[0];
  if (fired === undefined) return undefined;
  return { code: fired.rule.code ?? 'InternalOperationError', message: fired.rule.message ?? `The operation failed (injected fault on ${operation}).` };
}
