/**
 * One line per SDK event worth showing to people watching a failover: `npm run client` prints
 * them, the local cluster's web page lists them. Types only from the SDK: the page bundles this.
 */
import type { RtcHaSession, RtcHaSessionEvents } from '../runtime/client/session';

type Formatters = { readonly [K in keyof RtcHaSessionEvents]?: (payload: RtcHaSessionEvents[K]) => string };

/** One line per SDK event worth showing to people watching a failover. */
export const EVENT_LINES: Formatters = {
  joined: (f) => {
    const others = f.participants
      .filter((x) => x.participantId !== f.participantId)
      .map((x) => x.participantId);
    return `joined ${f.sessionId} as ${f.participantId} (epoch ${f.epoch}; media ${f.mediaNode?.nodeId ?? 'none'}; others: ${others.join(', ') || 'none'})`;
  },
  reconnecting: (r) => `reconnecting (attempt ${r.attempt} in ${r.delayMs} ms): ${r.reason}`,
  resumed: (r) =>
    `resumed after ${r.downtimeMs} ms (epoch ${r.frame.epoch}; ${r.replayed} replayed, ${r.missed} missed)`,
  failed: (f) => `failed: ${f.reason}${f.closeCode ? ` (close ${f.closeCode})` : ''}`,
  message: (m) =>
    `<${m.from}> ${typeof m.data === 'string' ? m.data : JSON.stringify(m.data)}   (seq ${m.seq})`,
  participantJoined: (e) => `${e.participant.participantId} joined`,
  participantLeft: (e) => `${e.participantId} left`,
  participantReconnected: (e) => `${e.participantId} reconnected`,
  mediaNodeChanged: (e) => `media node is now ${e.mediaNode?.nodeId ?? 'none'}`,
  error: (e) => `error ${e.code}: ${e.message}`,
  trackPublished: (e) => `${e.participantId} publishes ${e.kinds.join(' and ')}`,
  trackUnpublished: (e) => `${e.participantId} stopped publishing`,
  mediaError: (e) => `media error ${e.code}: ${e.message}`,
};

/** Prints each event of EVENT_LINES as a timestamped line. */
export function printEvents(session: RtcHaSession, write: (line: string) => void): void {
  for (const event of Object.keys(EVENT_LINES) as Array<keyof RtcHaSessionEvents>) {
    const format = EVENT_LINES[event] as (payload: unknown) => string;
    session.on(event, (payload) => write(`${new Date().toISOString().slice(11, 23)} ${format(payload)}\n`));
  }
}
