import { MAX_DEVICE_GPUS, gpuCountOf } from './azureClients.js';

describe('gpuCountOf', () => {
  it('reads whole numbers from 0 to the maximum, absent as 0', () => {
    expect(gpuCountOf(2, 'gpuTotalUnitsCount')).toBe(2);
    expect(gpuCountOf('1', 'gpuTotalUnitsCount')).toBe(1);
    expect(gpuCountOf(undefined, 'gpuTotalUnitsCount')).toBe(0);
  });

  it.each([Number.NaN, -1, 1.5, MAX_DEVICE_GPUS + 1, 1e308, 'NaN', '', '0x10', {}, [], true])('refuses %p, naming the field', (value) => {
    expect(() => gpuCountOf(value, 'gpuUsedUnitsCount')).toThrow(/gpuCapacity\.gpuUsedUnitsCount is .*: expected a whole number from 0 to 64/);
  });
});
