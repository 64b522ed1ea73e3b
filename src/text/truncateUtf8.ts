// Status and Events have byte limits (etcd's object size, events.k8s.io/v1 note: 1 KiB), and device-supplied text
// has none: it is cut by UTF-8 bytes, never inside a multi-byte sequence.

const ELLIPSIS = '…';
const ELLIPSIS_BYTES = Buffer.byteLength(ELLIPSIS);

/** `text` when it fits in `maxBytes` of UTF-8, else its longest prefix that fits with a trailing "…". */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return text;
  if (maxBytes < ELLIPSIS_BYTES) return '';
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes - ELLIPSIS_BYTES;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on the start of a character.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8') + ELLIPSIS;
}
