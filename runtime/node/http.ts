import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Writes a JSON reply; `undefined` body means no body (204). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'cache-control': 'no-store',
      ...headers,
    })
    .end(text);
}

/** The REST error shape of docs/contract.md: `{"error": {code, message, details?}}`. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  details?: string[],
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: details ? { code, message, details } : { code, message } }, headers);
}

/** Refuses a WebSocket upgrade with a plain HTTP status (the socket is not a ServerResponse yet). */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = JSON.stringify({ error: { code: reason, message: reason } });
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return status === 404 ? 'Not Found' : status === 503 ? 'Service Unavailable' : 'Error';
}

/**
 * A request that failed because its client went away (reset, aborted upload): routine for a
 * server on the internet, logged at info without a stack, never as an error.
 */
export function isClientAbort(req: IncomingMessage, err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return req.destroyed || code === 'ECONNRESET' || code === 'ECONNABORTED' || code === 'EPIPE';
}

/** Path without the query string ('/' for garbage). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
