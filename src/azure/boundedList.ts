// Every list the controller reads from a device follows nextLink: a device that never stops paging, or pages
// without end, must not hold a worker or fill memory.
import type { FullOperationResponse } from '@azure/core-client';
import { DeviceResponseError } from './deviceResponseError.js';
import { asUnreadableAnswer } from './unreadableAnswerPolicy.js';

/** Pages per list: a device's VMs, deployment operations or roles fit in one ARM page (up to 1,000 items). */
export const MAX_LIST_PAGES = 20;
/**
 * Items per list: far beyond what one device holds (tens of VMs, a handful of roles), and small enough that names
 * the status repeats (foreign GPU VMs, at most MAX_NAME_BYTES of sdkDeviceArm each) stay well inside the object size limit.
 */
export const MAX_LIST_ITEMS = 500;

export interface ListLimits {
  pages: number;
  items: number;
}

/** Reads a paged list (the SDK's `byPage()`) up to the limits; past either it fails naming the list. */
export async function readBoundedList<T>(what: string, pages: AsyncIterable<T[]>, limits: ListLimits = { pages: MAX_LIST_PAGES, items: MAX_LIST_ITEMS }): Promise<T[]> {
  const items: T[] = [];
  let count = 0;
  try {
    for await (const page of pages) {
      count += 1;
      if (count > limits.pages) throw new DeviceResponseError('TooManyPages', `${what}: the device answered more than ${limits.pages} pages (nextLink); the controller reads at most ${limits.pages}`);
      if (!Array.isArray(page)) throw new DeviceResponseError('UnreadableResponse', `${what}: a page is not a list`);
      if (items.length + page.length > limits.items) throw new DeviceResponseError('TooManyItems', `${what}: the device listed more than ${limits.items} items; the controller reads at most ${limits.items}`);
      items.push(...page);
    }
  } catch (err) {
    throw asUnreadableAnswer(what, err);
  }
  return items;
}

/**
 * An ARM list answer is `{ value: [...], nextLink? }`: the SDK reads a body without `value` (e.g. `{}`) as an
 * empty page, which would say "nothing there" about a device that said nothing. Pass as the list's onResponse.
 */
export function requireListShape(what: string): (raw: FullOperationResponse) => void {
  return (raw) => {
    const body = raw.parsedBody as { value?: unknown } | undefined;
    if (raw.status >= 200 && raw.status < 300 && (body === null || typeof body !== 'object' || !Array.isArray(body.value))) {
      throw new DeviceResponseError('UnreadableResponse', `${what}: the device answered HTTP ${raw.status} without a list (no "value" array)`);
    }
  };
}
