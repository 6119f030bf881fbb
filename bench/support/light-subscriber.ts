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

/**
 * werift's RTCPeerConnection with what a benchmark needs: host candidates over IPv4 UDP only (no
 * STUN: the namespace has no route out), and RTP packets counted per kind on `rtp`.
 */
export class LightPeerConnection extends RTCPeerConnection {
  readonly rtp: RtpCount = { audio: 0, video: 0 };

  constructor(configuration: Partial<PeerConfig> = {}) {
    super({ ...configuration, iceServers: [], iceUseIpv6: false, iceUseTcp: false });
    this.onTrack.subscribe((track) => {
      const kind = track.kind === 'audio' ? 'audio' : 'video';
      track.onReceiveRtp.subscribe(() => {
        this.rtp[kind] += 1;
      });
    });
  }
}

/** The SDK's `rtc` option for Node (runtime/client: `RtcHaNodeSession({ rtc })`). */
export const lightRtc = { RTCPeerConnection: LightPeerConnection, MediaStream };
