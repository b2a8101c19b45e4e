// CRC32C (Castagnoli), the checksum Secret Manager keeps per payload
// (https://cloud.google.com/secret-manager/docs/data-integrity). Node has no
// built-in CRC32C and the project takes no dependency for twenty lines.

const table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // 0x82F63B78: the Castagnoli polynomial 0x1EDC6F41, bit-reversed.
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = table[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
