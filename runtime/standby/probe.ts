import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

/** An HTTP GET's answer: its status and JSON body, or why there was none. */
export type ProbeResult = { readonly status: number; readonly body: unknown } | 'refused' | 'unreachable';

/**
 * GETs `url` (no keep-alive: nothing left open) and tells a refused connection (nothing listens
 * there: the process is gone) from no answer within `timeoutMs` (a hang, or a cut network), which
 * the agent weighs differently. An https URL's certificate is not checked: the probe asks whether a
 * runtime answers, at an address (127.0.0.1, the pair link's) its certificate never names, and reads
 * nothing secret.
 */
export function probe(url: string, timeoutMs: number): Promise<ProbeResult> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks)) }));
      res.on('error', () => resolve('unreachable'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'unreachable'),
    );
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
