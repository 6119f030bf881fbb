import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { waitFor } from '../../local/ports';

/** Debian's Chromium (package `chromium`): the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  // CI runs as root, where Chromium refuses to start sandboxed.
  '--no-sandbox',
  // A generated camera (moving test pattern) and microphone (a beep a second), granted without a prompt.
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A Chromium for one test file, with a fresh profile that `close()` removes. */
export interface TestBrowser {
  readonly browser: Browser;
  /** Wall time from spawn to a browser ready for pages. */
  readonly launchMs: number;
  /** A page whose RTCPeerConnections `mediaStats` can read, whoever created them. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'rtc-ha-chromium-'));
  const started = Date.now();
  let browser: Browser | undefined;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir,
      args: CHROMIUM_ARGS,
    });
    // Without a media permission Chromium gathers ICE candidates only on the default route's
    // interface, and the test namespace has no default route. Granted, every page (a subscriber that
    // never opens the camera too) offers host candidates with the veth addresses, not mDNS names.
    await browser
      .defaultBrowserContext()
      .setPermission(
        '*',
        { permission: { name: 'camera' }, state: 'granted' },
        { permission: { name: 'microphone' }, state: 'granted' },
      );
  } catch (err) {
    await browser?.close();
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const launchMs = Date.now() - started;
  const opened = browser;
  return {
    browser: opened,
    launchMs,
    async newPage() {
      const page = await opened.newPage();
      await page.evaluateOnNewDocument(recordPeerConnections);
      return page;
    },
    async close() {
      await opened.close().catch(() => opened.process()?.kill('SIGKILL'));
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

interface PeerRecorder {
  __rtcTestPeers: RTCPeerConnection[];
}

/** Runs in the page before its scripts: keeps every RTCPeerConnection the page creates. */
function recordPeerConnections(): void {
  const peers: RTCPeerConnection[] = [];
  (window as unknown as PeerRecorder).__rtcTestPeers = peers;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      peers.push(this);
    }
  };
}

/** What a page receives, summed over all its RTCPeerConnections' inbound RTP streams. */
export interface MediaStats {
  readonly framesDecoded: number;
  readonly videoPacketsReceived: number;
  readonly audioPacketsReceived: number;
  /** Sum of squared sample levels received; above 0 once sound (not silence) arrives. */
  readonly totalAudioEnergy: number;
}

export function mediaStats(page: Page): Promise<MediaStats> {
  return page.evaluate(async () => {
    const sum = { framesDecoded: 0, videoPacketsReceived: 0, audioPacketsReceived: 0, totalAudioEnergy: 0 };
    for (const peer of (window as unknown as PeerRecorder).__rtcTestPeers) {
      (await peer.getStats()).forEach((report: Record<string, unknown>) => {
        if (report.type !== 'inbound-rtp') return;
        const n = (key: string): number => (typeof report[key] === 'number' ? (report[key] as number) : 0);
        if (report.kind === 'video') {
          sum.framesDecoded += n('framesDecoded');
          sum.videoPacketsReceived += n('packetsReceived');
        } else if (report.kind === 'audio') {
          sum.audioPacketsReceived += n('packetsReceived');
          sum.totalAudioEnergy += n('totalAudioEnergy');
        }
      });
    }
    return sum;
  });
}

/** Each RTCPeerConnection's selected ICE candidate pair as `local address -> remote address`. */
export function iceRoutes(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const routes: string[] = [];
    for (const peer of (window as unknown as PeerRecorder).__rtcTestPeers) {
      const reports = new Map<string, Record<string, unknown>>();
      (await peer.getStats()).forEach((report: Record<string, unknown>) =>
        reports.set(report.id as string, report),
      );
      for (const transport of reports.values()) {
        if (transport.type !== 'transport') continue;
        const pair = reports.get(transport.selectedCandidatePairId as string);
        if (!pair) continue;
        const address = (id: unknown): unknown => reports.get(id as string)?.address;
        routes.push(`${address(pair.localCandidateId)} -> ${address(pair.remoteCandidateId)}`);
      }
    }
    return routes;
  });
}

/** Polls `mediaStats` until `check` holds; rejects after `timeoutMs` with the last stats seen. */
export async function waitForMedia(
  page: Page,
  what: string,
  check: (stats: MediaStats) => boolean,
  timeoutMs = 20_000,
): Promise<MediaStats> {
  let last: MediaStats | undefined;
  try {
    await waitFor(
      what,
      async () => {
        last = await mediaStats(page);
        return check(last);
      },
      timeoutMs,
      100,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last stats ${JSON.stringify(last)}`);
  }
  return last as MediaStats;
}
