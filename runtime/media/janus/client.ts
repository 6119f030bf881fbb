/**
 * The media agent's client of its Janus API: sessions kept alive within Janus's session timeout,
 * VideoRoom handles and the requests an SFU room needs. Janus is half-trickle: its candidates are
 * in its SDP; the peer's arrive by `trickle`, closed by `completed`.
 */
import { JANUS_API, JanusConnection, JanusError, JanusMessage } from './connection';
import { VIDEOROOM_PLUGIN } from './config';

/** An SDP offer or answer as WebRTC's RTCSessionDescriptionInit has it. */
export interface Jsep {
  readonly type: 'offer' | 'answer';
  readonly sdp: string;
}

/** One ICE candidate as RTCIceCandidateInit has it. */
export interface IceCandidate {
  readonly candidate: string;
  readonly sdpMid?: string | null;
  readonly sdpMLineIndex?: number | null;
}

/** What Janus tells about one handle, besides the answers to its requests. */
export type HandleEvent =
  /** ICE and DTLS are up: media can flow (a publisher's feed can be subscribed to from now). */
  | { readonly type: 'webrtcup' }
  /** The PeerConnection is gone (ICE failed, DTLS alert, the peer's BYE, ...). */
  | { readonly type: 'hangup'; readonly reason: string }
  /** Janus started or stopped receiving one medium. */
  | { readonly type: 'media'; readonly mid?: string; readonly kind: string; readonly receiving: boolean }
  /** Many NACKs on one stream: a bad link, to the peer (`uplink` false) or from it. */
  | { readonly type: 'slowlink'; readonly mid?: string; readonly uplink: boolean; readonly nacks?: number }
  /** The handle is gone (detached, or its session destroyed or timed out). */
  | { readonly type: 'detached' }
  /** A VideoRoom event not answering a request (publishers joining or leaving, ...). */
  | { readonly type: 'plugin'; readonly data: Readonly<Record<string, unknown>>; readonly jsep?: Jsep };

export interface JanusClientOptions {
  /** @default 5_000 */
  readonly requestTimeoutMs?: number;
  /** Keepalive period of each session: well within Janus's session_timeout. @default 15_000 */
  readonly keepaliveMs?: number;
}

/** One socket to the Janus API; sessions live on it and die with it (reclaim timeout 0). */
export class JanusClient {
  private readonly keepaliveMs: number;

  private constructor(
    private readonly connection: JanusConnection,
    options: JanusClientOptions,
  ) {
    this.keepaliveMs = options.keepaliveMs ?? 15_000;
  }

  static async connect(
    url: string,
    apiSecret: string,
    options: JanusClientOptions = {},
  ): Promise<JanusClient> {
    const connection = await JanusConnection.open(url, JANUS_API, apiSecret, {
      requestTimeoutMs: options.requestTimeoutMs,
    });
    return new JanusClient(connection, options);
  }

  /** Janus's `ping`: resolves once it answers `pong`. */
  async ping(timeoutMs?: number): Promise<void> {
    await this.connection.request({ janus: 'ping' }, { timeoutMs });
  }

  async createSession(): Promise<JanusSession> {
    const reply = await this.connection.request({ janus: 'create' });
    return new JanusSession(this.connection, dataId(reply), this.keepaliveMs);
  }

  /** Runs once the socket closed: Janus died, or `close()`. Every session on it is gone. */
  onClose(listener: () => void): () => void {
    return this.connection.onClose(listener);
  }

  close(): void {
    this.connection.close();
  }
}

export class JanusSession {
  private readonly handles = new Map<number, VideoRoomHandle>();
  private readonly keepalive: NodeJS.Timeout;
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly connection: JanusConnection,
    readonly id: number,
    keepaliveMs: number,
  ) {
    // A failed keepalive means the session or the socket is gone; the close or detached events say so.
    this.keepalive = setInterval(
      () => void connection.request({ janus: 'keepalive', session_id: id }).catch(() => undefined),
      keepaliveMs,
    );
    this.unsubscribe = [
      connection.onEvent((message) => {
        if (message.session_id === id && message.sender !== undefined)
          this.handles.get(message.sender)?.receive(message);
      }),
      connection.onClose(() => this.forget()),
    ];
  }

  async attachVideoRoom(): Promise<VideoRoomHandle> {
    const reply = await this.connection.request({
      janus: 'attach',
      session_id: this.id,
      plugin: VIDEOROOM_PLUGIN,
    });
    const handle = new VideoRoomHandle(this.connection, this.id, dataId(reply), (id) =>
      this.handles.delete(id),
    );
    this.handles.set(handle.id, handle);
    return handle;
  }

  /** Destroys the session and with it every handle on it. */
  async destroy(): Promise<void> {
    try {
      await this.connection.request({ janus: 'destroy', session_id: this.id });
    } finally {
      this.forget();
    }
  }

  private forget(): void {
    clearInterval(this.keepalive);
    for (const stop of this.unsubscribe) stop();
    for (const handle of this.handles.values()) handle.receive({ janus: 'detached' });
    this.handles.clear();
  }
}

/** Options of a new room; Janus's defaults for the rest (VP8 and Opus, no recording). */
export interface RoomOptions {
  /** Most publishers at once. @default 16 */
  readonly publishers?: number;
  /** Cap on each publisher's video bitrate (bps); 0 leaves it to the browsers. @default 0 */
  readonly bitrate?: number;
}

/** A publisher's place in a room once joined. */
export interface Joined {
  readonly room: string;
  readonly id: string;
  /** Feeds already published in the room. */
  readonly publishers: readonly { readonly id: string }[];
}

/** A handle on the VideoRoom plugin: one publisher, one subscriber, or room management. */
export class VideoRoomHandle {
  private readonly listeners = new Set<(event: HandleEvent) => void>();

  constructor(
    private readonly connection: JanusConnection,
    readonly sessionId: number,
    readonly id: number,
    private readonly onDetached: (id: number) => void,
  ) {}

  /** Creates room `room`; a room outlives its participants until `destroyRoom`. 427: it exists. */
  async createRoom(room: string, options: RoomOptions = {}): Promise<void> {
    await this.message({
      request: 'create',
      room,
      permanent: false,
      publishers: options.publishers ?? 16,
      bitrate: options.bitrate ?? 0,
    });
  }

  /** Destroys room `room`: its participants get `destroyed` and lose their feeds. 426: no such room. */
  async destroyRoom(room: string): Promise<void> {
    await this.message({ request: 'destroy', room, permanent: false });
  }

  async roomExists(room: string): Promise<boolean> {
    const data = await this.message({ request: 'exists', room });
    return data.exists === true;
  }

  /** Joins `room` as publisher `feed` (not publishing yet). */
  async joinAsPublisher(room: string, feed: string, display?: string): Promise<Joined> {
    const data = await this.message(
      { request: 'join', ptype: 'publisher', room, id: feed, display },
      undefined,
      true,
    );
    const publishers = (data.publishers as { id: string }[] | undefined) ?? [];
    return { room, id: String(data.id), publishers: publishers.map((p) => ({ id: String(p.id) })) };
  }

  /**
   * Publishes with the peer's offer; resolves with Janus's answer, which carries Janus's
   * candidates. Then trickle the peer's candidates and wait for `webrtcup`.
   */
  async publish(offer: Jsep): Promise<Jsep> {
    return expectJsep(await this.messageReply({ request: 'publish' }, offer, true), 'answer');
  }

  /** Stops publishing; the handle stays in the room. */
  async unpublish(): Promise<void> {
    await this.message({ request: 'unpublish' }, undefined, true);
  }

  /**
   * Joins `room` as a subscriber to `feeds` (each must have had its `webrtcup`, else 428) and
   * resolves with Janus's offer; answer it with `start`.
   */
  async joinAsSubscriber(room: string, feeds: readonly string[]): Promise<Jsep> {
    const reply = await this.messageReply(
      { request: 'join', ptype: 'subscriber', room, streams: feeds.map((feed) => ({ feed })) },
      undefined,
      true,
    );
    return expectJsep(reply, 'offer');
  }

  /** Answers a subscriber's offer: media starts flowing once `webrtcup`. */
  async start(answer: Jsep): Promise<void> {
    await this.message({ request: 'start' }, answer, true);
  }

  /** Leaves the room (a publisher's feed goes with it). */
  async leave(): Promise<void> {
    await this.message({ request: 'leave' }, undefined, true);
  }

  /** One of the peer's candidates (or several). */
  trickle(candidates: IceCandidate | readonly IceCandidate[]): Promise<void> {
    return this.sendTrickle(Array.isArray(candidates) ? { candidates } : { candidate: candidates });
  }

  /** The peer has no more candidates. */
  trickleCompleted(): Promise<void> {
    return this.sendTrickle({ candidate: { completed: true } });
  }

  async detach(): Promise<void> {
    await this.connection.request({ janus: 'detach', session_id: this.sessionId, handle_id: this.id });
  }

  onEvent(listener: (event: HandleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves on the next event of `type`; rejects after `timeoutMs` or when the handle goes first. */
  waitFor<T extends HandleEvent['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<HandleEvent, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`handle ${this.id}: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const stop = this.onEvent((event) => {
        if (event.type !== type && event.type !== 'detached') return;
        clearTimeout(timer);
        stop();
        if (event.type === type) resolve(event as Extract<HandleEvent, { type: T }>);
        else reject(new Error(`handle ${this.id}: detached before ${type}`));
      });
    });
  }

  /** Routes a message Janus sent about this handle (called by its session). */
  receive(message: JanusMessage): void {
    const event = toHandleEvent(message);
    if (!event) return;
    if (event.type === 'detached') this.onDetached(this.id);
    for (const listener of this.listeners) listener(event);
  }

  private async sendTrickle(body: Record<string, unknown>): Promise<void> {
    await this.connection.request({
      janus: 'trickle',
      session_id: this.sessionId,
      handle_id: this.id,
      ...body,
    });
  }

  /** A VideoRoom request; resolves with the plugin's data, rejects with its error code. */
  private async message(
    body: Record<string, unknown>,
    jsep?: Jsep,
    untilEvent = false,
  ): Promise<Readonly<Record<string, unknown>>> {
    return pluginData(await this.messageReply(body, jsep, untilEvent));
  }

  private async messageReply(body: Record<string, unknown>, jsep: Jsep | undefined, untilEvent: boolean) {
    const reply = await this.connection.request(
      { janus: 'message', session_id: this.sessionId, handle_id: this.id, body, ...(jsep && { jsep }) },
      { untilEvent },
    );
    pluginData(reply); // throws the plugin's error, if any
    return reply;
  }
}

/** The VideoRoom's data in a reply; its `error_code` (in a `success` or `event`) becomes a JanusError. */
function pluginData(reply: JanusMessage): Readonly<Record<string, unknown>> {
  const data = (reply.plugindata as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  if (typeof data.error_code === 'number') throw new JanusError(data.error_code, String(data.error));
  return data;
}

function expectJsep(reply: JanusMessage, type: Jsep['type']): Jsep {
  const jsep = reply.jsep as Jsep | undefined;
  if (jsep?.type !== type) throw new Error(`Janus answered without an SDP ${type}`);
  return jsep;
}

function dataId(reply: JanusMessage): number {
  return (reply.data as { id: number }).id;
}

function toHandleEvent(message: JanusMessage): HandleEvent | undefined {
  switch (message.janus) {
    case 'webrtcup':
      return { type: 'webrtcup' };
    case 'hangup':
      return { type: 'hangup', reason: String(message.reason ?? '') };
    case 'media':
      return {
        type: 'media',
        mid: message.mid as string | undefined,
        kind: String(message.type),
        receiving: message.receiving === true,
      };
    case 'slowlink':
      return {
        type: 'slowlink',
        mid: message.mid as string | undefined,
        uplink: message.uplink === true,
        nacks: message.nacks as number | undefined,
      };
    case 'detached':
      return { type: 'detached' };
    case 'event': {
      const data = (message.plugindata as { data?: Record<string, unknown> } | undefined)?.data ?? {};
      return { type: 'plugin', data, jsep: message.jsep as Jsep | undefined };
    }
    default:
      return undefined;
  }
}
