import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf, sendError, sendJson } from './http';

/** Why a node cannot take new work right now; empty when it can. */
export type Readiness = () => string[];

/**
 * GET /live and GET /ready (docs/contract.md). /live checks nothing but that the event loop
 * answers; /ready answers 200 only while `readiness` has no reason to refuse work. Answers
 * false for any other path, so the caller routes it.
 */
export function serveHealth(
  req: IncomingMessage,
  res: ServerResponse,
  nodeId: string,
  readiness: Readiness,
): boolean {
  const path = pathOf(req);
  if (path !== '/live' && path !== '/ready') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, 'method_not_allowed', 'use GET', undefined, { allow: 'GET, HEAD' });
    return true;
  }
  if (path === '/live') {
    sendJson(res, 200, { status: 'live', nodeId });
    return true;
  }
  const reasons = readiness();
  if (reasons.length === 0) sendJson(res, 200, { status: 'ready', nodeId });
  else sendJson(res, 503, { status: 'not_ready', nodeId, reasons });
  return true;
}
