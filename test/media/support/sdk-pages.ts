// The SDK fixture page (fixtures/sdk-media.html) as the browser media tests drive and read it.
import type { Page } from 'puppeteer-core';
import { waitFor } from '../../../local/ports';

export interface PageEvent {
  name: string;
  participantId?: string;
  feedId?: string;
  code?: string;
  gapMs?: number;
  tookMs?: number;
  mediaNodeId?: string | null;
}
export interface SdkPage {
  join(url: string | string[], token: string, options?: Record<string, unknown>): Promise<void>;
  publish(): Promise<string>;
  leave(): Promise<void>;
  events(): PageEvent[];
}
export interface Recorded {
  __rtcTestPeers: RTCPeerConnection[];
}

export const events = (page: Page) => page.evaluate(() => (window as unknown as SdkPage).events());

/**
 * Frames decoded on the page's connected connections made from the `since`-th on (the ones
 * before may be the old node's, still `connected` until the browser notices).
 */
export function liveVideo(page: Page, since = 0): Promise<{ connections: number; framesDecoded: number }> {
  return page.evaluate(async (from) => {
    let framesDecoded = 0;
    let connections = 0;
    for (const peer of (window as unknown as Recorded).__rtcTestPeers.slice(from)) {
      if (peer.connectionState !== 'connected') continue;
      let receives = false;
      (await peer.getStats()).forEach((report: Record<string, unknown>) => {
        if (report.type !== 'inbound-rtp' || report.kind !== 'video') return;
        receives = true;
        framesDecoded += typeof report.framesDecoded === 'number' ? report.framesDecoded : 0;
      });
      if (receives) connections++;
    }
    return { connections, framesDecoded };
  }, since);
}
export const peerCount = (page: Page) =>
  page.evaluate(() => (window as unknown as Recorded).__rtcTestPeers.length);

export async function until<T>(what: string, probe: () => Promise<T>, check: (v: T) => boolean, ms = 20_000) {
  let last: T | undefined;
  try {
    await waitFor(
      what,
      async () => {
        last = await probe();
        return check(last);
      },
      ms,
      50,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last ${JSON.stringify(last)}`);
  }
  return last as T;
}

/** Every subscriber page decodes `feeds` video feeds on connected connections, frames rising. */
export async function decoding(page: Page, feeds: number, label: string, since = 0): Promise<void> {
  const first = await until(
    `${label}: ${feeds} feed(s) decoding`,
    () => liveVideo(page, since),
    (v) => v.connections === feeds && v.framesDecoded > 0,
  );
  await until(
    `${label}: frames rising`,
    () => liveVideo(page, since),
    (v) => v.connections === feeds && v.framesDecoded >= first.framesDecoded + 10,
  );
}

/** Decoded frames of each feed's video element on the page (the app's sinks). */
export const playing = (page: Page): Promise<Record<string, number>> =>
  page.evaluate(() =>
    Object.fromEntries(
      Array.from(document.querySelectorAll('video')).map((v) => [
        v.id,
        v.getVideoPlaybackQuality().totalVideoFrames,
      ]),
    ),
  );

/** Every one of the page's `feeds` video elements shows new frames. */
export async function allPlaying(page: Page, feeds: number, label: string): Promise<void> {
  const before = await playing(page);
  await until(
    `${label}: ${feeds} video element(s) playing`,
    async () => [before, await playing(page)] as const,
    ([was, now]) =>
      Object.keys(now).length === feeds && Object.entries(now).every(([id, n]) => n >= (was[id] ?? 0) + 5),
  );
}
