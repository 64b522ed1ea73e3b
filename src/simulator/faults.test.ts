import { FaultInjector } from './faults.js';

describe('FaultInjector', () => {
  it('follows an exact sequence per matching operation', () => {
    const faults = new FaultInjector([{ operation: 'vm.get', kind: 'throttle', sequence: [true, false, true] }], 1);
    const fired = [1, 2, 3, 4].map(() => faults.take('vm.get', 'dev', ['throttle']).length);
    expect(fired).toEqual([1, 0, 1, 0]);
    expect(faults.take('nic.get', 'dev', ['throttle'])).toHaveLength(0);
  });

  it('is reproducible for a seed and honours count and device', () => {
    const rule = { operation: 'vm.*', kind: 'error500' as const, rate: 0.5, count: 3, device: 'a' };
    const run = () => {
      const f = new FaultInjector([rule], 42);
      return Array.from({ length: 20 }, () => f.take('vm.put', 'a', ['error500']).length);
    };
    expect(run()).toEqual(run());
    expect(run().reduce((a, b) => a + b, 0)).toBe(3);
    expect(new FaultInjector([rule], 42).take('vm.put', 'b', ['error500'])).toHaveLength(0);
  });

  it('matches any of several target names', () => {
    const faults = new FaultInjector([{ operation: 'role.put', kind: 'error503', device: 'dev-a' }], 1);
    expect(faults.take('role.put', ['azure', 'dev-b'], ['error503'])).toHaveLength(0);
    expect(faults.take('role.put', ['azure', 'DEV-A'], ['error503'])).toHaveLength(1);
  });
});
