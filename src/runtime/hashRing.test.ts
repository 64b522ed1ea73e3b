import { ownerOf } from './hashRing.js';

const names = Array.from({ length: 1000 }, (_, i) => `device-${i}`);
const assign = (members: string[]): Map<string, string | undefined> => new Map(names.map((n) => [n, ownerOf(n, members)]));
const moved = (a: Map<string, string | undefined>, b: Map<string, string | undefined>): string[] => names.filter((n) => a.get(n) !== b.get(n));

test('no members: no owner; one member owns everything', () => {
  expect(ownerOf('x', [])).toBeUndefined();
  expect(names.every((n) => ownerOf(n, ['only']) === 'only')).toBe(true);
});

test('the owner does not depend on the order the members are listed in', () => {
  const members = ['a', 'b', 'c', 'd'];
  expect(assign(members)).toEqual(assign([...members].reverse()));
});

test('1,000 names spread over 4 members roughly evenly', () => {
  const counts = new Map<string, number>();
  for (const owner of assign(['r1', 'r2', 'r3', 'r4']).values()) counts.set(owner ?? '', (counts.get(owner ?? '') ?? 0) + 1);
  expect([...counts.keys()].sort()).toEqual(['r1', 'r2', 'r3', 'r4']);
  for (const count of counts.values()) expect(count).toBeGreaterThan(180);
});

test('a member leaving moves only its own names, about 1/N of them', () => {
  const before = assign(['r1', 'r2', 'r3', 'r4']);
  const after = assign(['r1', 'r2', 'r4']);
  const changed = moved(before, after);
  expect(changed.every((n) => before.get(n) === 'r3')).toBe(true);
  expect(changed.length).toBe(names.filter((n) => before.get(n) === 'r3').length);
  expect(changed.length).toBeGreaterThan(1000 / 4 - 70);
  expect(changed.length).toBeLessThan(1000 / 4 + 70);
});

test('a member joining takes about 1/N of the names, all of them from others to itself', () => {
  const before = assign(['r1', 'r2', 'r3']);
  const after = assign(['r1', 'r2', 'r3', 'r4']);
  const changed = moved(before, after);
  expect(changed.every((n) => after.get(n) === 'r4')).toBe(true);
  expect(changed.length).toBeGreaterThan(1000 / 4 - 70);
  expect(changed.length).toBeLessThan(1000 / 4 + 70);
  // A naive modulo assignment would move most names: the property is what this hashing is for.
  expect(changed.length).toBeLessThan(1000 / 2);
});
