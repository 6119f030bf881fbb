/**
 * A page with the client SDK as a browser app gets it: runtime/client in one bundle built for the
 * browser (global `RtcHa`), served with the page's HTML from 127.0.0.1, a secure context, so
 * getUserMedia works over plain HTTP. Used by the media tests and the media benchmarks.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface SdkPageServer {
  /** The page's URL; the bundle is at `sdk.js` beside it. */
  readonly url: string;
  close(): Promise<void>;
}

export async function serveSdkPage(html: string | Buffer): Promise<SdkPageServer> {
  const sdk = await build({
    entryPoints: [join(__dirname, '..', '..', 'runtime', 'client', 'index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'RtcHa',
    write: false,
  });
  const files: Record<string, [string, string | Buffer]> = {
    '/': ['text/html', html],
    '/sdk.js': ['text/javascript', sdk.outputFiles[0].text],
  };
  const server = createServer((req, res) => {
    const file = files[req.url ?? ''];
    if (file) res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
    else res.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
