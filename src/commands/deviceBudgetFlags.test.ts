import { ARM_SUBSCRIPTION_LIMITS } from '../azure/deviceBudget.js';
import { deviceBudgetLimits } from './deviceBudgetFlags.js';

test('without flags the budget is ARM’s per-subscription limits', () => {
  expect(deviceBudgetLimits({})).toEqual(ARM_SUBSCRIPTION_LIMITS);
});

test('each flag sets its own number', () => {
  expect(deviceBudgetLimits({ 'device-write-rate': '1', 'device-write-burst': '1', 'device-read-rate': '0.5', 'device-read-burst': '20' })).toEqual({
    read: { ratePerSecond: 0.5, burst: 20 },
    write: { ratePerSecond: 1, burst: 1 },
  });
  expect(deviceBudgetLimits({ 'device-write-rate': '2' })).toEqual({ ...ARM_SUBSCRIPTION_LIMITS, write: { ratePerSecond: 2, burst: 200 } });
});

test.each([
  ['device-read-rate', '0', /--device-read-rate: "0" must be a positive number of requests per second/],
  ['device-write-rate', '-1', /--device-write-rate: "-1" must be a positive number/],
  ['device-write-rate', 'fast', /--device-write-rate: "fast"/],
  ['device-write-rate', '', /--device-write-rate: ""/],
  ['device-write-rate', 'Infinity', /--device-write-rate/],
  ['device-read-burst', '0', /--device-read-burst: "0" must be a whole number of requests of at least 1/],
  ['device-write-burst', '1.5', /--device-write-burst: "1.5" must be a whole number/],
  ['device-write-burst', '1e3', /--device-write-burst/],
])('--%s %j is refused', (flag, value, message) => {
  expect(() => deviceBudgetLimits({ [flag]: value })).toThrow(message);
});
