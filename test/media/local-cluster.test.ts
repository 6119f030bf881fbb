// `npm run cluster`'s web page end to end, inside the run's network namespace: the local cluster
// with Janus beside its media agent, two Chromium pages that join one session through the page
// (tokens from the runner), see each other's video, and kill a master with the page's button.
// RTC_UPDATE_SCREENSHOT=1 also saves the page as docs/images/local-cluster.png.
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { type Cluster, startCluster } from '../../local/cluster';
import { waitFor } from '../../local/ports';
import { launchBrowser, mediaStats, waitForMedia, type TestBrowser } from '../support/browser';
import { testNetwork } from '../support/netns';

const SCREENSHOT = join(__dirname, '..', '..', 'docs', 'images', 'local-cluster.png');

/** The node table as the page shows it: node id to its cells by column key. */
type NodeTable = Record<string, Record<string, string>>;

describe('the local cluster with media: its web page', () => {
  const network = testNetwork();
  let cluster: Cluster;
  let browser: TestBrowser;

  beforeAll(async () => {
    cluster = await startCluster({
      masters: 2,
      media: 1,
      port: 0,
      statsPort: 0,
      webPort: 0,
      iceAddress: network.iceAddress,
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  /** A page that joined `sessionId` as `participantId` with the page's form. */
  async function participant(sessionId: string, participantId: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error(`${participantId}: ${String(err)}`));
    await page.setViewport({ width: 1180, height: 620 });
    await page.goto(cluster.urls.web as string);
    await page.$eval(
      'input[name=session]',
      (input, value) => ((input as HTMLInputElement).value = value),
      sessionId,
    );
    await page.$eval(
      'input[name=participant]',
      (input, value) => ((input as HTMLInputElement).value = value),
      participantId,
    );
    await page.click('#join-button');
    return page;
  }

  const nodeTable = (page: Page): Promise<NodeTable> =>
    page.$$eval('#nodes tbody tr', (rows) =>
      Object.fromEntries(
        rows.map((row) => [
          (row as HTMLElement).dataset.node,
          Object.fromEntries(
            Array.from(row.querySelectorAll('td[data-key]')).map((td) => [
              (td as HTMLElement).dataset.key,
              td.textContent,
            ]),
          ),
        ]),
      ),
    );

  const eventLines = (page: Page) => page.$$eval('#events li', (items) => items.map((li) => li.textContent));

  it('two participants see each other, and the media goes on when the kill button crashes their master', async () => {
    // GIVEN alice and bob in one session, each through the page
    const pages = [await participant('lobby', 'alice'), await participant('lobby', 'bob')];

    // THEN each decodes the other's video, and shows two tiles (own camera, the other)
    for (const page of pages) {
      await waitForMedia(page, "the other's video", (s) => s.framesDecoded > 10);
      expect(await page.$$eval('figcaption', (c) => c.map((x) => x.textContent).sort())).toHaveLength(2);
    }
    expect(await pages[0].$$eval('figcaption', (c) => c.map((x) => x.textContent))).toEqual([
      'alice (you)',
      'bob',
    ]);

    // WHEN the page kills a master that holds one of their connections
    let busy: string | undefined;
    await waitFor(
      'a master with connections in the table (heartbeats carry the counts)',
      async () => {
        const table = await nodeTable(pages[0]);
        busy = Object.keys(table).find((id) => id.startsWith('master-') && table[id].connections !== '0');
        return busy !== undefined;
      },
      10_000,
      100,
    );
    const before = await Promise.all(pages.map(mediaStats));
    // A background tab gets no animation frames, which a click waits for.
    await pages[0].bringToFront();
    await pages[0].click(`button[data-node="${busy}"][data-action="kill"]`);

    // THEN the table shows it dead
    await waitFor(
      `${busy} dead in the table`,
      async () => ['exited', 'gone'].includes((await nodeTable(pages[0]))[busy as string]?.process ?? 'gone'),
      10_000,
      100,
    );
    // AND its participant resumes on the other master while the video keeps coming on both pages
    await waitFor(
      'a resume',
      async () =>
        (await Promise.all(pages.map(eventLines))).flat().some((l) => /resumed after/.test(l ?? '')),
      10_000,
      100,
    );
    for (const [i, page] of pages.entries()) {
      await waitForMedia(
        page,
        'frames after the kill',
        (s) => s.framesDecoded >= before[i].framesDecoded + 30,
      );
    }
    if (process.env.RTC_UPDATE_SCREENSHOT) await pages[0].screenshot({ path: SCREENSHOT });
  });
});
