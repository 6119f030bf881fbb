// Proves the media test harness end to end with real parts, all inside the run's network namespace:
// Debian's Janus gathering on the veth address, Debian's Chromium with a fake camera and microphone,
// one page publishing to a VideoRoom and another subscribing. rtc-ha's media path (agent, master,
// SDK) is tested on top of this harness, not here.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { iceRoutes, launchBrowser, waitForMedia, type TestBrowser } from '../support/browser';
import { testNetwork } from '../support/netns';
import { startJanus, type TestJanus } from './support/janus';

interface VideoRoomPage {
  publish(url: string, room: number): Promise<number>;
  subscribe(url: string, room: number, feed: number): Promise<void>;
}

describe('media test harness: Chromium to Janus VideoRoom inside the test namespace', () => {
  const network = testNetwork();
  let janus: TestJanus;
  let browser: TestBrowser;
  let server: Server;
  let pageUrl: string;

  beforeAll(async () => {
    janus = await startJanus(network.iceAddress);
    const html = await readFile(join(__dirname, 'fixtures', 'videoroom.html'));
    // Served from 127.0.0.1: a secure context, so getUserMedia is allowed over plain HTTP.
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await janus?.stop();
    if (server) await new Promise((resolve) => server.close(resolve));
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    return page;
  }

  it('a subscriber decodes the video and hears the audio a fake camera publishes', async () => {
    const [publisher, subscriber] = [await open(), await open()];
    const room = 1_000 + Math.floor(Math.random() * 1_000_000);
    const started = Date.now();

    const feed = await publisher.evaluate(
      (url, r) => (window as unknown as VideoRoomPage).publish(url, r),
      janus.wsUrl,
      room,
    );
    await subscriber.evaluate(
      (url, r, f) => (window as unknown as VideoRoomPage).subscribe(url, r, f),
      janus.wsUrl,
      room,
      feed,
    );
    const first = await waitForMedia(subscriber, 'a first decoded frame', (s) => s.framesDecoded > 0);
    const firstFrameMs = Date.now() - started;
    const later = await waitForMedia(
      subscriber,
      'frames to keep coming and sound to arrive',
      (s) =>
        s.framesDecoded >= first.framesDecoded + 30 && s.audioPacketsReceived > 50 && s.totalAudioEnergy > 0,
    );

    expect(later.framesDecoded).toBeGreaterThan(first.framesDecoded);
    expect(later.totalAudioEnergy).toBeGreaterThan(0);
    // Media took the veth, not loopback or an mDNS name: both ends are namespace addresses.
    for (const page of [publisher, subscriber]) {
      const routes = (await iceRoutes(page)).map((route) => route.split(' -> '));
      expect(routes).toEqual([[expect.stringMatching(/^10\.77\./), network.iceAddress]]);
    }
    // The harness's own costs, for docs/testing.md.
    console.info(
      JSON.stringify({
        netnsSetupMs: network.setupMs,
        chromiumLaunchMs: browser.launchMs,
        publishToFirstFrameMs: firstFrameMs,
        subscriber: later,
      }),
    );
  });
});
