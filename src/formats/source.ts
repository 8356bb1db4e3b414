/**
 * Byte sources: read ranges of a file without loading it whole (models > 2 GB exist),
 * or of an in-memory buffer (browser, tests).
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws RangeError past the end. */
  read(offset: number, length: number): Uint8Array;
  /** Optional: the dst.byteLength bytes at `offset` into dst (no intermediate copy; e.g. into wasm memory). */
  readInto?(offset: number, dst: Uint8Array): void;
  close(): void;
}

function checkRange(size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`read of ${length} bytes at offset ${offset} is outside the ${size}-byte source`);
  }
}

export function fileSource(path: string): ByteSource {
  // opening a FIFO blocks until a writer comes: refuse anything but a regular file before the open
  if (!statSync(path).isFile()) throw new Error(`${path} is not a regular file`);
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  let open = true;
  const readInto = (offset: number, dst: Uint8Array): void => {
    const length = dst.byteLength;
    checkRange(size, offset, length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, dst, done, Math.min(length - done, 1 << 30), offset + done);
      if (n <= 0) throw new RangeError(`unexpected end of file at ${offset + done}`);
      done += n;
    }
  };
  return {
    size,
    read(offset, length) {
      const out = new Uint8Array(length);
      readInto(offset, out);
      return out;
    },
    readInto,
    close() { if (open) { closeSync(fd); open = false; } },
  };
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read(offset, length) {
      checkRange(bytes.byteLength, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    readInto(offset, dst) {
      checkRange(bytes.byteLength, offset, dst.byteLength);
      dst.set(bytes.subarray(offset, offset + dst.byteLength));
    },
    close() { /* nothing */ },
  };
}
