// Long-running operations: an id per operation, its status, and the two polling styles ARM uses
// (Azure-AsyncOperation status URL for PUT, Location for DELETE/POST).
import { randomUUID } from 'node:crypto';
import type { ArmErrorBody } from './errors.js';
import { toArmError } from './errors.js';

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';

export interface Operation {
  id: string;
  /** Which style polls it; a Location operation answers 202 then 200 (POST) or 204 (DELETE). */
  style: 'async' | 'location';
  method: 'PUT' | 'DELETE' | 'POST';
  status: OperationStatus;
  error?: ArmErrorBody;
  /** HTTP status a failed Location poll answers with. */
  errorStatus?: number;
  startTime: string;
  endTime?: string;
}

export class OperationRegistry {
  private readonly operations = new Map<string, Operation>();
  private readonly order: string[] = [];

  constructor(private readonly capacity = 20_000) {}

  /**
   * Registers an operation whose outcome is the job's; `settled` runs once it has one (the simulator checks the
   * invariants of what the operation changed there).
   */
  start(style: Operation['style'], method: Operation['method'], job: Promise<unknown>, settled?: () => void): Operation {
    const op: Operation = { id: randomUUID(), style, method, status: 'InProgress', startTime: new Date().toISOString() };
    this.operations.set(op.id, op);
    this.order.push(op.id);
    if (this.order.length > this.capacity) {
      const old = this.order.shift();
      if (old !== undefined) this.operations.delete(old);
    }
    job.then(
      () => {
        op.status = 'Succeeded';
        op.endTime = new Date().toISOString();
        settled?.();
      },
      (err: unknown) => {
        const armError = toArmError(err);
        op.status = armError.code === 'DeploymentCanceled' ? 'Canceled' : 'Failed';
        op.error = armError.body();
        op.errorStatus = armError.status >= 400 && armError.status !== 404 ? armError.status : 409;
        op.endTime = new Date().toISOString();
        settled?.();
      },
    );
    return op;
  }

  get(id: string): Operation | undefined {
    return this.operations.get(id.toLowerCase()) ?? this.operations.get(id);
  }

  inProgress(): number {
    let n = 0;
    for (const op of this.operations.values()) if (op.status === 'InProgress') n++;
    return n;
  }
}
