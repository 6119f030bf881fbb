import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/** A local stand-in for the EC2 instance metadata service (IMDSv2). */
export interface ImdsStandIn {
  /** http://127.0.0.1:<port>: the value for AWS_EC2_METADATA_SERVICE_ENDPOINT. */
  readonly endpoint: string;
  /** Sets (or, with undefined, removes) `meta-data/<path>`, e.g. to flip the lifecycle state. */
  set(path: string, value: string | undefined): void;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 answering as IMDSv2 does: `PUT /latest/api/token` (with a TTL
 * header) issues a token, `GET /latest/meta-data/<path>` needs it (401 without), 404 for a path
 * not in `metadata`. Keys are paths below meta-data/, e.g. `instance-id`, `local-ipv4`.
 */
export async function startImds(metadata: Record<string, string>): Promise<ImdsStandIn> {
  const values = new Map(Object.entries(metadata));
  const tokens = new Set<string>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body = '') =>
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return reply(400);
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      return reply(200, token);
    }
    const path = req.url?.startsWith('/latest/meta-data/')
      ? req.url.slice('/latest/meta-data/'.length)
      : undefined;
    if (req.method !== 'GET' || path === undefined) return reply(404);
    if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return reply(401);
    const value = values.get(path);
    return value === undefined ? reply(404) : reply(200, value);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    set: (path, value) => (value === undefined ? values.delete(path) : values.set(path, value)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
