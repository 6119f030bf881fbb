import type { IceCandidateInit, SignalKind, SignalPayloads } from '../contract/wire';

/** A received `signal` frame, its `data` typed by its `kind`. */
export type SignalFrame = {
  [K in SignalKind]: { type: 'signal'; seq: number; from: string; kind: K; data: SignalPayloads[K] };
}[SignalKind];

/**
 * Whether `localId` offers to `remoteId` on a connection of their own (docs/contract.md, "Signaling
 * between participants"): the participant whose id sorts first (by UTF-16 code units, the same in
 * every runtime), so the two never offer at once. The other asks with `renegotiate`.
 */
export function isOfferer(localId: string, remoteId: string): boolean {
  return localId < remoteId;
}

/**
 * `data` of a received `signal` of `kind` as SignalPayloads says, or undefined when it is not.
 * An offer or answer that is only the SDP text (what clients before the typed payloads sent)
 * becomes its description.
 */
export function readSignalData<K extends SignalKind>(kind: K, data: unknown): SignalPayloads[K] | undefined {
  return READERS[kind](data) as SignalPayloads[K] | undefined;
}

const READERS: { [K in SignalKind]: (data: unknown) => SignalPayloads[K] | undefined } = {
  offer: (data) => description('offer', data),
  answer: (data) => description('answer', data),
  candidate: (data) => (data === null ? null : candidate(data)),
  renegotiate: (data) =>
    isRecord(data) && (data.iceRestart === undefined || typeof data.iceRestart === 'boolean')
      ? { iceRestart: data.iceRestart === true }
      : undefined,
};

function description<T extends 'offer' | 'answer'>(type: T, data: unknown) {
  if (typeof data === 'string') return { type, sdp: data };
  return isRecord(data) && data.type === type && typeof data.sdp === 'string'
    ? { type, sdp: data.sdp }
    : undefined;
}

function candidate(data: unknown): IceCandidateInit | undefined {
  if (!isRecord(data) || typeof data.candidate !== 'string') return undefined;
  const { sdpMid, sdpMLineIndex, usernameFragment } = data;
  if (
    !optional(sdpMid, 'string') ||
    !optional(sdpMLineIndex, 'number') ||
    !optional(usernameFragment, 'string')
  )
    return undefined;
  return { candidate: data.candidate, sdpMid, sdpMLineIndex, usernameFragment };
}

/** Absent, null, or of `type`. */
function optional<T extends 'string' | 'number'>(
  value: unknown,
  type: T,
): value is (T extends 'string' ? string : number) | null | undefined {
  return value === undefined || value === null || typeof value === type;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
