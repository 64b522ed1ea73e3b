// The audit log of every request and the invariant violations, both readable by tests and the admin API.
export interface AuditEntry {
  seq: number;
  time: string;
  /** Device name, or "azure" for the Azure side. */
  device: string;
  method: string;
  path: string;
  apiVersion: string | null;
  /** Operation name used by fault rules, e.g. "vm.get". */
  operation: string;
  status: number;
  durationMs: number;
  requestId: string;
  errorCode?: string;
  fault?: string;
  /** The request's User-Agent header (tells apart several controller processes sharing one simulator). */
  userAgent?: string;
  /** The request's JSON body with secrets redacted (only with the simulator option `auditBodies`). */
  body?: unknown;
}

export interface Violation {
  time: string;
  device: string;
  invariant: string;
  message: string;
}

export class AuditLog {
  private entries: AuditEntry[] = [];
  private seq = 0;
  private readonly violationList: Violation[] = [];

  constructor(private readonly capacity: number) {}

  record(entry: Omit<AuditEntry, 'seq' | 'time'>): AuditEntry {
    const full: AuditEntry = { seq: ++this.seq, time: new Date().toISOString(), ...entry };
    this.entries.push(full);
    if (this.entries.length > this.capacity * 1.25) this.entries = this.entries.slice(-this.capacity);
    return full;
  }

  /** Entries after a sequence number (default all kept), optionally for one device. */
  list(filter: { since?: number; device?: string } = {}): AuditEntry[] {
    return this.entries.filter(
      (e) =>
        (filter.since === undefined || e.seq > filter.since) &&
        (filter.device === undefined || e.device.toLowerCase() === filter.device.toLowerCase()),
    );
  }

  clear(): void {
    this.entries = [];
  }

  violation(device: string, invariant: string, message: string): void {
    const last = this.violationList.at(-1);
    if (last?.device === device && last.invariant === invariant && last.message === message) return;
    this.violationList.push({ time: new Date().toISOString(), device, invariant, message });
  }

  violations(): Violation[] {
    return [...this.violationList];
  }
}
