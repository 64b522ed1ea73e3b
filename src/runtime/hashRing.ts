// Rendezvous (highest-random-weight) hashing: a key belongs to the member with the highest hash of
// (member, key). Thaler & Ravishankar, "Using Name-Based Mappings to Increase Hit Rates" (IEEE/ACM ToN, 1998).
// Why this and not a token ring: no virtual nodes to tune, and a change of membership moves only the keys of the
// member that left (or, when one joins, only the keys it now wins): about 1/N of them.
import { createHash } from 'node:crypto';

/** The weight of `member` for `key`: the first 48 bits of SHA-256(member NUL key). */
export function rendezvousWeight(member: string, key: string): number {
  return createHash('sha256').update(member).update('\0').update(key).digest().readUIntBE(0, 6);
}

/** The member `key` belongs to, or undefined when there are no members. Ties (48-bit collisions) go to the smaller identity. */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const weight = rendezvousWeight(member, key);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}
