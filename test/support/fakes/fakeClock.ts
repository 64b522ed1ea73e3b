// A manual clock for deterministic runtime tests (the Clock the runtime takes instead of systemClock).
import type { Clock, TimerHandle } from '../../../src/runtime/clock.js';

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A manual clock for deterministic tests. Timers fire only inside advance()/advanceAsync(), in due-time order
 * (ties in creation order), each with now() equal to its due time.
 */
export class FakeClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { id: this.nextId++, at: this.current + Math.max(0, ms), callback };
    this.timers.set(timer.id, timer);
    return { fakeTimerId: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as { fakeTimerId?: number }).fakeTimerId;
    if (id !== undefined) this.timers.delete(id);
  }

  /** Number of timers not yet fired or cleared. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, if any. */
  nextTimerAt(): number | undefined {
    return this.earliest()?.at;
  }

  /** Moves time forward by ms, firing every timer that falls due (including ones those timers set). */
  advance(ms: number): void {
    const target = this.current + Math.max(0, ms);
    for (let timer = this.earliest(); timer && timer.at <= target; timer = this.earliest()) {
      this.timers.delete(timer.id);
      this.current = Math.max(this.current, timer.at);
      timer.callback();
    }
    this.current = target;
  }

  /**
   * Like advance(), but lets promise continuations run after each timer and at the end, so async code
   * woken by a timer can schedule follow-up timers inside the same window.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.current + Math.max(0, ms);
    await flushPromises();
    for (let timer = this.earliest(); timer && timer.at <= target; timer = this.earliest()) {
      this.timers.delete(timer.id);
      this.current = Math.max(this.current, timer.at);
      timer.callback();
      await flushPromises();
    }
    this.current = target;
    await flushPromises();
  }

  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.timers.values()) {
      if (!best || timer.at < best.at || (timer.at === best.at && timer.id < best.id)) best = timer;
    }
    return best;
  }
}

/**
 * Lets pending promise continuations run: resolves after `rounds` turns of the event loop (macrotasks queued
 * with setImmediate by the code under test, e.g. a worker yielding between keys, run in between).
 */
export async function flushPromises(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
