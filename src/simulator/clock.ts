// Scaled time: every simulated duration goes through here so stop() can cancel what is pending.
export class Clock {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  /** Resolves after ms (0 = next macrotask). Never resolves once the simulator is stopped. */
  delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, Math.max(0, ms));
      this.timers.add(timer);
    });
  }

  now(): Date {
    return new Date();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
