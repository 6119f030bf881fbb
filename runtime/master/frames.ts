import type { RawData } from 'ws';
import { ClientFrame, ClientFrameSchema, ErrorCode, LIMITS } from '../contract';

/**
 * Deepest JSON nesting a frame may have. JSON.parse copes with any depth, but JSON.stringify
 * recurses, so a 60 000-deep array would overflow the stack when the frame is replayed.
 */
export const MAX_JSON_DEPTH = 32;

export type DecodedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: Extract<ErrorCode, 'bad_json' | 'bad_frame' | 'frame_too_large'>; message: string };

/** Untrusted bytes from a socket to a validated client frame, or the error frame's code and text. */
export function decodeClientFrame(data: RawData, isBinary: boolean): DecodedFrame {
  const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  if (bytes.length > LIMITS.maxFrameBytes) {
    return {
      ok: false,
      code: 'frame_too_large',
      message: `frame of ${bytes.length} bytes exceeds ${LIMITS.maxFrameBytes}`,
    };
  }
  if (isBinary)
    return { ok: false, code: 'bad_frame', message: 'binary frames are not accepted: send JSON text' };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'bad_json', message: `not JSON: ${(err as Error).message}` };
  }
  if (exceedsJsonDepth(json)) {
    return { ok: false, code: 'bad_frame', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  const parsed = ClientFrameSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      code: 'bad_frame',
      message: parsed.error.issues.map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, frame: parsed.data };
}

/** Nested deeper than MAX_JSON_DEPTH; iterative, so the check itself cannot overflow the stack. */
export function exceedsJsonDepth(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}
