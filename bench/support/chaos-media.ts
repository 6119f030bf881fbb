/**
 * What the chaos suite's media scenarios publish and subscribe with (local/chaos/media.ts): one
 * Debian Chromium whose pages each publish its fake camera (real VP8 through Janus) with the
 * bundled SDK (the media tests' page, test/media/fixtures/sdk-media.html), and werift light
 * subscribers that count the video frames they receive. Used inside a network namespace only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import type { MediaTools } from '../../local/chaos/media';
import type { RtcImplementation } from '../../runtime/client';
import { launchBrowser } from '../../test/support/browser';
import { serveSdkPage } from '../../test/support/sdk-page';
import { frameCountingRtc } from './light-subscriber';

const PAGE = join(__dirname, '..', '..', 'test', 'media', 'fixtures', 'sdk-media.html');

type SdkPage = Record<'join' | 'publish' | 'leave', (...args: unknown[]) => Promise<unknown>>;

/** MediaTools with one browser for every camera; `close` ends the browser. */
export interface ChaosMediaTools extends MediaTools {
  close(): Promise<void>;
}

export async function chaosMediaTools(iceAddress: string): Promise<ChaosMediaTools> {
  const site = await serveSdkPage(await readFile(PAGE));
  const browser = await launchBrowser().catch(async (err: unknown) => {
    await site.close();
    throw err;
  });
  const pages = new Set<Page>();
  const leave = async (page: Page) => {
    pages.delete(page);
    await page.evaluate(() => (window as unknown as SdkPage).leave()).catch(() => undefined);
    await page.close().catch(() => undefined);
  };
  return {
    iceAddress,
    async publish(url, token) {
      const page = await browser.newPage();
      pages.add(page);
      try {
        await page.goto(site.url);
        await page.evaluate((u, t) => (window as unknown as SdkPage).join(u, t), url, token);
        await page.evaluate(() => (window as unknown as SdkPage).publish());
      } catch (err) {
        await leave(page);
        throw err;
      }
      return { close: () => leave(page) };
    },
    subscriberRtc: (onFrame) => frameCountingRtc(onFrame) as unknown as RtcImplementation,
    async close() {
      await Promise.all([...pages].map(leave));
      await browser.close();
      await site.close();
    },
  };
}
