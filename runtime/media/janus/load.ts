/**
 * The load figures the agent publishes for its Janus: counts and traffic from the admin API (a
 * pure summary of `handle_info`, tested on fixtures) and Janus's own CPU from /proc.
 */
import type { HandleInfo, JanusAdmin, MediumInfo, TrafficInfo } from './admin';
import type { ProcessCpuSampler } from './procfs';

export interface JanusLoad {
  /** VideoRoom rooms, empty ones included (they hold ports and memory until destroyed). */
  readonly rooms: number;
  /** Handles publishing at least one stream. */
  readonly publishers: number;
  /** Subscriber handles: each receives one or more feeds. */
  readonly subscribers: number;
  /** Bits per second Janus received over the last second, every PeerConnection together. */
  readonly bitrateIn: number;
  /** Bits per second Janus sent over the last second. */
  readonly bitrateOut: number;
  /**
   * Share (0..1) of the media packets lost, both ways, over the life of the live PeerConnections
   * (RTCP's counts); absent without media.
   */
  readonly packetLoss?: number;
  /** Janus's CPU over the last interval, as a share of the machine (0..1). */
  readonly cpu: number;
}

/** Everything but the rooms and the CPU, from each live handle's `handle_info`. */
export function summarizeHandles(
  handles: readonly HandleInfo[],
): Pick<JanusLoad, 'publishers' | 'subscribers' | 'bitrateIn' | 'bitrateOut' | 'packetLoss'> {
  let publishers = 0;
  let subscribers = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let packets = 0;
  let lost = 0;
  for (const handle of handles) {
    const role = handle.plugin_specific;
    if (role?.type === 'publisher' && (role.streams?.length ?? 0) > 0) publishers += 1;
    if (role?.type === 'subscriber') subscribers += 1;
    for (const medium of Object.values(handle.webrtc?.media ?? {})) {
      const traffic = mediumTraffic(medium);
      bytesIn += traffic.bytesIn;
      bytesOut += traffic.bytesOut;
      packets += traffic.packets;
      lost += traffic.lost;
    }
  }
  return {
    publishers,
    subscribers,
    bitrateIn: bytesIn * 8,
    bitrateOut: bytesOut * 8,
    ...(packets + lost > 0 && { packetLoss: lost / (packets + lost) }),
  };
}

function mediumTraffic(medium: MediumInfo) {
  const { in: received = {}, out: sent = {} } = medium.stats ?? {};
  // Simulcast layers beyond the first are counted apart from it.
  const layers: TrafficInfo[] = [
    received,
    received['video-simulcast-1'] ?? {},
    received['video-simulcast-2'] ?? {},
  ];
  const main = medium.rtcp?.main ?? {};
  return {
    bytesIn: layers.reduce((sum, layer) => sum + (layer.bytes_lastsec ?? 0), 0),
    bytesOut: sent.bytes_lastsec ?? 0,
    packets: layers.reduce((sum, layer) => sum + (layer.packets ?? 0), 0) + (sent.packets ?? 0),
    lost: (main.lost ?? 0) + (main['lost-by-remote'] ?? 0),
  };
}

/** Reads the figures now: one admin request per session and per handle, plus /proc. */
export async function readJanusLoad(admin: JanusAdmin, cpu: ProcessCpuSampler): Promise<JanusLoad> {
  const [rooms, handles] = await Promise.all([admin.listRooms(), admin.allHandles()]);
  return { rooms: rooms.length, ...summarizeHandles(handles), cpu: cpu.sample() };
}
