import { FreshObjects } from './freshObjects.js';

const obj = (rv: string, value: number) => ({ metadata: { name: 'a', resourceVersion: rv }, value });

describe('FreshObjects', () => {
  it('returns the written object while the cache still holds the version it replaced', () => {
    const fresh = new FreshObjects<ReturnType<typeof obj>>();
    fresh.remember('a', obj('1', 1), obj('2', 2));
    expect(fresh.resolve('a', obj('1', 1)).value).toBe(2);
  });

  it('returns the cached object once the cache moved on, and forgets the write', () => {
    const fresh = new FreshObjects<ReturnType<typeof obj>>();
    fresh.remember('a', obj('1', 1), obj('2', 2));
    expect(fresh.resolve('a', obj('3', 3)).value).toBe(3);
    expect(fresh.resolve('a', obj('1', 1)).value).toBe(1);
  });

  it('drops the written object once the cache shows a newer version, without waiting for the next resolve', () => {
    const fresh = new FreshObjects<ReturnType<typeof obj>>();
    fresh.remember('a', obj('1', 1), obj('2', 2));
    // An update event of the version the write was based on changes nothing.
    fresh.observed('a', '1');
    expect(fresh.size()).toBe(1);
    fresh.observed('a', '2');
    expect(fresh.size()).toBe(0);
    expect(fresh.resolve('a', obj('2', 2)).value).toBe(2);
  });

  it('ignores writes that did not happen', () => {
    const fresh = new FreshObjects<ReturnType<typeof obj>>();
    fresh.remember('a', obj('1', 1), undefined);
    expect(fresh.resolve('a', obj('1', 1)).value).toBe(1);
  });
});
