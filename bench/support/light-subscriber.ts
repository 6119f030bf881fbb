/**
 * The media benchmark's light subscriber: werift's RTCPeerConnection (pure TypeScript WebRTC) that
 * receives a feed's RTP and counts the packets without decoding them. Chromium decoding dozens of
 * streams would saturate the machine's 2 cores by itself; werift does ICE, DTLS and SRTP, so each
 * subscriber is a real PeerConnection that Janus must serve, at a fraction of a browser's cost.
 */
import { MediaStream, RTCPeerConnection, type PeerConfig } from 'werift';

/** Every light subscriber's received RTP, by kind: the proof that the load is real. */
export interface RtpCount {
  audio: number;
  video: number;
}

/** RFC 3550 timestamps wrap at 2^32: `a` is later than `b` when it is less than half the range ahead. */
function later(a: number, b: number): boolean {
  const ahead = (a - b) >>> 0;
  return ahead !== 0 && ahead < 0x8000_0000;
}

/**
 * werift's RTCPeerConnection with what a benchmark needs: host candidates over IPv4 UDP only (no
 * STUN: the namespace has no route out), RTP packets counted per kind on `rtp`, and video frames
 * on `frames`: all packets of one frame carry its RTP timestamp, so a frame is a packet with a
 * timestamp later than any before it on its track (a retransmitted packet of an older frame is
 * not one).
 */
export class LightPeerConnection extends RTCPeerConnection {
  readonly rtp: RtpCount = { audio: 0, video: 0 };
  frames = 0;

  constructor(configuration: Partial<PeerConfig> = {}) {
    super({ ...configuration, iceServers: [], iceUseIpv6: false, iceUseTcp: false });
    this.onTrack.subscribe((track) => {
      const kind = track.kind === 'audio' ? 'audio' : 'video';
      let newest: number | undefined;
      track.onReceiveRtp.subscribe((packet) => {
        this.rtp[kind] += 1;
        if (kind !== 'video') return;
        const { timestamp } = packet.header;
        if (newest !== undefined && !later(timestamp, newest)) return;
        newest = timestamp;
        this.videoFrame(Date.now());
      });
    });
  }

  /** A new video frame's first packet arrived at `at` (ms): counted; subclasses may note when. */
  protected videoFrame(_at: number): void {
    this.frames += 1;
  }
}

/** The SDK's `rtc` option for Node (runtime/client: `RtcHaNodeSession({ rtc })`). */
export const lightRtc = { RTCPeerConnection: LightPeerConnection, MediaStream };

/**
 * `lightRtc` for one subscriber whose every connection (a feed subscribed again after a media
 * move makes a new one) reports each video frame it receives to `onFrame`, with its arrival time.
 */
export function frameCountingRtc(onFrame: (at: number) => void): typeof lightRtc {
  class FrameCounting extends LightPeerConnection {
    protected override videoFrame(at: number): void {
      super.videoFrame(at);
      onFrame(at);
    }
  }
  return { RTCPeerConnection: FrameCounting, MediaStream };
}
