/**
 * Message ids for `send` (PROTOCOL.md §6): "m_" followed by 128 random bits
 * in base64url, 24 characters from A–Z a–z 0–9 _ - (the protocol allows
 * 8–64 of them).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** What the protocol accepts as a mid. */
export const MID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** Encodes bytes as unpadded base64url. */
export function base64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]!;
  }
  return out;
}

/** A fresh message id from 128 bits of `crypto.getRandomValues`. */
export function newMid(): string {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (!c || typeof c.getRandomValues !== 'function') {
    throw new Error('lifeline: crypto.getRandomValues is not available; it is needed for message ids');
  }
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return 'm_' + base64url(bytes);
}
