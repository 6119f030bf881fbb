import type { IceCandidateLike, PeerConnectionLike, RtcImplementation } from '../../../runtime/client';

/** A track as far as the SDK looks at one (it only hands tracks over). */
export function fakeTrack(kind: 'audio' | 'video', id = `${kind}-1`): MediaStreamTrack {
  return { kind, id } as MediaStreamTrack;
}

export class FakeMediaStream {
  constructor(
    private readonly tracks: MediaStreamTrack[],
    readonly id = 'stream-1',
  ) {}
  getTracks(): MediaStreamTrack[] {
    return [...this.tracks];
  }
}

/**
 * Just what the SDK calls on an RTCPeerConnection: descriptions are recorded, offers and answers
 * are numbered strings, a remote offer yields one track per `m=` line of its SDP (`m=audio`,
 * `m=video`) in a stream, and the test decides when candidates gather and the connection changes.
 */
export class FakePeerConnection implements PeerConnectionLike {
  static readonly created: FakePeerConnection[] = [];
  private static count = 0;
  readonly id = ++FakePeerConnection.count;
  localDescription: { type: 'offer' | 'answer'; sdp: string } | null = null;
  remoteDescription: { type: 'offer' | 'answer'; sdp: string } | null = null;
  connectionState = 'new';
  closed = false;
  readonly transceivers: { track: MediaStreamTrack; direction: string; streams: MediaStream[] }[] = [];
  onicecandidate: ((event: { candidate: IceCandidateLike | null }) => void) | null = null;
  ontrack: ((event: { track: MediaStreamTrack; streams: readonly MediaStream[] }) => void) | null = null;
  onconnectionstatechange: ((event: unknown) => void) | null = null;

  constructor(readonly configuration: RTCConfiguration) {
    FakePeerConnection.created.push(this);
  }

  addTransceiver(track: MediaStreamTrack, init: { direction: 'sendonly'; streams: MediaStream[] }): void {
    this.transceivers.push({ track, ...init });
  }
  async createOffer(): Promise<{ type: 'offer'; sdp: string }> {
    return { type: 'offer', sdp: `offer-of-pc-${this.id}` };
  }
  async createAnswer(): Promise<{ type: 'answer'; sdp: string }> {
    return { type: 'answer', sdp: `answer-of-pc-${this.id}` };
  }
  async setLocalDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void> {
    this.localDescription = description;
  }
  async setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void> {
    if (description.sdp.includes('bad')) throw new Error('cannot parse the SDP');
    this.remoteDescription = description;
    if (description.type !== 'offer') return;
    const tracks = [...description.sdp.matchAll(/m=(audio|video)/g)].map((m, i) =>
      fakeTrack(m[1] as 'audio' | 'video', `remote-${this.id}-${i}`),
    );
    const stream = new FakeMediaStream(tracks, `remote-stream-${this.id}`) as unknown as MediaStream;
    for (const track of tracks) this.ontrack?.({ track, streams: [stream] });
  }
  close(): void {
    this.closed = true;
  }

  /** Gathers these candidates, then signals the end of gathering. */
  gather(...candidates: string[]): void {
    for (const candidate of candidates)
      this.onicecandidate?.({ candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 } });
    this.onicecandidate?.({ candidate: null });
  }
  setConnectionState(state: string): void {
    this.connectionState = state;
    this.onconnectionstatechange?.({});
  }

  static reset(): void {
    FakePeerConnection.created.length = 0;
    FakePeerConnection.count = 0;
  }
}

export const fakeRtc: RtcImplementation = {
  RTCPeerConnection: FakePeerConnection,
  MediaStream: FakeMediaStream as unknown as RtcImplementation['MediaStream'],
};
