import WebSocket from 'ws';
import { RtcHaSession } from './session';
import type { RtcHaSessionOptions, WebSocketConstructor } from './session';

export * from './index';

/** `ws` without per-message deflate: signaling frames are small and zlib costs memory per socket. */
class NodeWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { perMessageDeflate: false });
  }
}

/** The WebSocket constructor for Node (20 has no global WebSocket). */
export const nodeWebSocket: WebSocketConstructor = NodeWebSocket;

/** RtcHaSession for Node: `ws` unless options.WebSocket says otherwise. */
export class RtcHaNodeSession extends RtcHaSession {
  constructor(options: RtcHaSessionOptions) {
    super({ ...options, WebSocket: options.WebSocket ?? nodeWebSocket });
  }
}
