import { GpuLedger } from './gpuLedger.js';

describe('GpuLedger', () => {
  it('gives each VM one GPU and refuses when none is free', () => {
    const ledger = new GpuLedger(2);
    expect(ledger.claimForVm('a', 'a')).toBe(true);
    expect(ledger.claimForVm('a', 'a')).toBe(true);
    expect(ledger.claimForVm('b', 'b')).toBe(true);
    expect(ledger.claimForVm('c', 'c')).toBe(false);
    expect(ledger.free()).toBe(0);
    expect(ledger.releaseVm('A')).toBe(true);
    expect(ledger.free()).toBe(1);
  });

  it('lets Kubernetes claim every free GPU and give them back', () => {
    const ledger = new GpuLedger(2);
    ledger.claimForVm('a', 'a');
    expect(ledger.claimFreeForKubernetes()).toBe(1);
    expect(ledger.claimForVm('b', 'b')).toBe(false);
    expect(ledger.releaseKubernetes()).toBe(1);
    expect(ledger.claimForVm('b', 'b')).toBe(true);
  });
});
