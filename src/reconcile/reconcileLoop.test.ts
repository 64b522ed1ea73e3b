import { FINALIZER } from '../api/types.js';
import { DeviceThrottledError } from '../azure/deviceResponseError.js';
import { done, requeueAfter, type ReconcileOutcome } from '../runtime/controller.js';
import { noopLogger } from '../runtime/logger.js';
import { ReconcileLoop, type ActionFailure, type Decision, type PlanStep, type ReconcileKind } from './reconcileLoop.js';

interface Thing {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion: string; finalizers?: string[] };
  status?: { step: string };
}
type Action = { kind: 'none' } | { kind: 'addFinalizer' } | { kind: 'removeFinalizer' } | { kind: 'send'; ahead: boolean };
type Read = 'a' | 'b';
interface Session {
  have: Set<Read>;
}

/** A kind whose planner and tables are set per test; every effect lands in `log`. */
class ToyKind implements ReconcileKind<Thing, Session, Read, Action, { step: string }> {
  readonly kind = 'Toy';
  readonly log: string[] = [];
  object: Thing = { apiVersion: 'v1', kind: 'Toy', metadata: { name: 't', resourceVersion: '1', finalizers: [FINALIZER] } };
  planner: (s: Session) => PlanStep<Read, Action, { step: string }> = () => ({ kind: 'plan', plan: { action: { kind: 'none' }, status: { step: 'idle' } } });
  actError: unknown;

  cached(): Thing | undefined {
    return this.object;
  }
  forget(): void {}
  begin(): Session {
    return { have: new Set() };
  }
  plan(s: Session): PlanStep<Read, Action, { step: string }> {
    return this.planner(s);
  }
  async read(read: Read, s: Session): Promise<void> {
    this.log.push(`read ${read}`);
    s.have.add(read);
  }
  async act(action: Action): Promise<{ retryAfterMs?: number } | undefined> {
    this.log.push(`act ${action.kind}`);
    if (this.actError !== undefined) throw this.actError;
    return undefined;
  }
  writesAhead(action: Action): boolean {
    return action.kind === 'send' && action.ahead;
  }
  async writeStatus(o: Thing, status: { step: string }): Promise<Thing | undefined> {
    this.log.push(`status ${status.step}`);
    this.object = { ...o, metadata: { ...o.metadata, resourceVersion: String(Number(o.metadata.resourceVersion) + 1) }, status };
    return this.object;
  }
  async setFinalizers(o: Thing, finalizers: string[]): Promise<Thing> {
    this.log.push(`finalizers [${finalizers.join(',')}]`);
    this.object = { ...o, metadata: { ...o.metadata, finalizers } };
    return this.object;
  }
  failed(_a: Action, d: Decision<Action, { step: string }>): ActionFailure<{ step: string }> {
    return { status: { step: `${d.status.step} failed` }, event: { type: 'Warning', reason: 'Failed', message: 'it failed' } };
  }
  scrub(err: unknown): unknown {
    return err;
  }
  settled(_key: string, d: Decision<Action, { step: string }>): ReconcileOutcome {
    return d.requeueAfterMs === undefined ? done() : requeueAfter(d.requeueAfterMs);
  }
}

function loopOf(kind: ToyKind): { loop: ReconcileLoop<Thing, Session, Read, Action, { step: string }>; events: string[] } {
  const events: string[] = [];
  const recorder = { record: (_t: unknown, type: string, reason: string) => void events.push(`${type} ${reason}`) };
  return { loop: new ReconcileLoop(kind, kind, recorder, noopLogger), events };
}

describe('ReconcileLoop', () => {
  it('performs each read the planner asks for, then plans again', async () => {
    const kind = new ToyKind();
    kind.planner = (s) =>
      !s.have.has('a') ? { kind: 'read', read: 'a' } : !s.have.has('b') ? { kind: 'read', read: 'b' } : { kind: 'plan', plan: { action: { kind: 'none' }, status: { step: 'seen' } } };
    await loopOf(kind).loop.reconcile('t');
    expect(kind.log).toEqual(['read a', 'read b', 'act none', 'status seen']);
  });

  it('refuses a planner that asks twice for one read instead of looping', async () => {
    const kind = new ToyKind();
    kind.planner = () => ({ kind: 'read', read: 'a' });
    await expect(loopOf(kind).loop.reconcile('t')).rejects.toThrow(/asked twice for read a/);
  });

  it('applies the finalizer rule from one table: adds it and goes on with the patched object, removes it and stops', async () => {
    const kind = new ToyKind();
    const { loop } = loopOf(kind);
    kind.object = { ...kind.object, metadata: { ...kind.object.metadata, finalizers: ['other'] } };
    const planned: (string[] | undefined)[] = [];
    kind.planner = () => {
      planned.push(kind.object.metadata.finalizers);
      return kind.object.metadata.finalizers?.includes(FINALIZER)
        ? { kind: 'plan', plan: { action: { kind: 'send', ahead: false }, status: { step: 'sent' }, requeueAfterMs: 5000 } }
        : { kind: 'plan', plan: { action: { kind: 'addFinalizer' }, status: { step: 'x' } } };
    };
    // The first step happens in the same reconcile, on the object as the patch returned it.
    expect(await loop.reconcile('t')).toEqual(requeueAfter(5000));
    expect(planned).toEqual([['other'], ['other', FINALIZER]]);
    kind.planner = () => ({ kind: 'plan', plan: { action: { kind: 'removeFinalizer' }, status: { step: 'x' } } });
    expect(await loop.reconcile('t')).toEqual(done());
    expect(kind.log).toEqual([`finalizers [other,${FINALIZER}]`, 'act send', 'status sent', 'finalizers [other]']);
  });

  it('goes on once after adding the finalizer: a planner that asks for it again is looked at again from the queue', async () => {
    const kind = new ToyKind();
    const { loop } = loopOf(kind);
    kind.planner = () => ({ kind: 'plan', plan: { action: { kind: 'addFinalizer' }, status: { step: 'x' } } });
    expect(await loop.reconcile('t')).toEqual(requeueAfter(0));
    expect(kind.log).toEqual([`finalizers [${FINALIZER}]`, `finalizers [${FINALIZER}]`]);
  });

  it('writes the status before an action that writes ahead, after any other, and the Event once the action is sent', async () => {
    const kind = new ToyKind();
    const { loop, events } = loopOf(kind);
    kind.planner = () => ({ kind: 'plan', plan: { action: { kind: 'send', ahead: true }, status: { step: 'intent' }, event: { type: 'Normal', reason: 'Sent', message: 'sent' } } });
    await loop.reconcile('t');
    kind.planner = () => ({ kind: 'plan', plan: { action: { kind: 'send', ahead: false }, status: { step: 'after' } } });
    await loop.reconcile('t');
    expect(kind.log).toEqual(['status intent', 'act send', 'act send', 'status after']);
    expect(events).toEqual(['Normal Sent']);
  });

  it('records a failed action in status and an Event, but not a throttled one', async () => {
    const kind = new ToyKind();
    const { loop, events } = loopOf(kind);
    kind.planner = () => ({ kind: 'plan', plan: { action: { kind: 'send', ahead: false }, status: { step: 'try' } } });
    kind.actError = new Error('refused');
    await expect(loop.reconcile('t')).rejects.toThrow('refused');
    kind.actError = new DeviceThrottledError('busy', 1000);
    await expect(loop.reconcile('t')).rejects.toThrow('busy');
    expect(kind.log).toEqual(['act send', 'status try failed', 'act send']);
    expect(events).toEqual(['Warning Failed']);
  });
});
