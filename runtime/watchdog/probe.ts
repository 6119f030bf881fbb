import { request } from 'node:http';
import type { ProbeResult } from './core';
import { errorMessage } from './errors';

/** How long a /live answer may take; a responsive node answers in milliseconds. */
export const DEFAULT_PROBE_TIMEOUT_MS = 1_000;

/**
 * GET http://host:port/live: ok on a 200 within the timeout. No connection reuse, so a node that
 * died since the last probe is seen as dead (refused or timed out), not served from a pooled socket.
 */
export function probeLive(address: string, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(`http://${address}/live`);
    } catch {
      resolve({ ok: false, error: `bad /live address ${JSON.stringify(address)}` });
      return;
    }
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(
        res.statusCode === 200 ? { ok: true } : { ok: false, error: `GET /live answered ${res.statusCode}` },
      );
    });
    req.once('timeout', () => req.destroy(new Error(`GET /live timed out after ${timeoutMs} ms`)));
    req.once('error', (err) => resolve({ ok: false, error: errorMessage(err) }));
    req.end();
  });
}
