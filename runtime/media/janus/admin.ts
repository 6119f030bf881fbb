/**
 * Janus's admin API over WebSocket: health (`ping`, `info`, answered without the secret too) and
 * what is left inside Janus (sessions, handles, rooms), which needs the admin secret.
 */
import { ADMIN_API, JanusConnection, JanusMessage } from './connection';
import { VIDEOROOM_PLUGIN } from './config';

/** The parts of `handle_info` the load figures read (Janus 1.1: `plugin_specific`, `webrtc.media`). */
export interface HandleInfo {
  readonly plugin?: string;
  readonly plugin_specific?: {
    readonly type?: string;
    readonly room?: string | number;
    readonly streams?: readonly unknown[];
  };
  readonly webrtc?: { readonly media?: Readonly<Record<string, MediumInfo>> };
}

/** One m-line of a PeerConnection in `handle_info`. */
export interface MediumInfo {
  readonly type?: string;
  readonly rtcp?: { readonly main?: { readonly lost?: number; readonly 'lost-by-remote'?: number } };
  readonly stats?: {
    readonly in?: TrafficInfo & {
      readonly 'video-simulcast-1'?: TrafficInfo;
      readonly 'video-simulcast-2'?: TrafficInfo;
    };
    readonly out?: TrafficInfo;
  };
}

export interface TrafficInfo {
  readonly packets?: number;
  readonly bytes_lastsec?: number;
}

export interface ServerInfo {
  readonly name: string;
  readonly version_string: string;
  readonly 'server-name': string;
  readonly 'session-timeout': number;
  readonly 'local-ip': string;
  readonly plugins: Readonly<Record<string, unknown>>;
  readonly transports: Readonly<Record<string, unknown>>;
  readonly [field: string]: unknown;
}

export class JanusAdmin {
  private constructor(private readonly connection: JanusConnection) {}

  static async connect(
    url: string,
    adminSecret: string | undefined,
    requestTimeoutMs?: number,
  ): Promise<JanusAdmin> {
    return new JanusAdmin(await JanusConnection.open(url, ADMIN_API, adminSecret, { requestTimeoutMs }));
  }

  async ping(timeoutMs?: number): Promise<void> {
    await this.connection.request({ janus: 'ping' }, { timeoutMs });
  }

  async info(): Promise<ServerInfo> {
    return (await this.connection.request({ janus: 'info' })) as unknown as ServerInfo;
  }

  async listSessions(): Promise<number[]> {
    return (await this.connection.request({ janus: 'list_sessions' })).sessions as number[];
  }

  async listHandles(sessionId: number): Promise<number[]> {
    return (await this.connection.request({ janus: 'list_handles', session_id: sessionId }))
      .handles as number[];
  }

  async handleInfo(sessionId: number, handleId: number): Promise<HandleInfo> {
    const reply = await this.connection.request({
      janus: 'handle_info',
      session_id: sessionId,
      handle_id: handleId,
    });
    return reply.info as HandleInfo;
  }

  /** The ids of the VideoRoom's rooms (empty ones too: rooms outlive their participants). */
  async listRooms(): Promise<string[]> {
    const reply: JanusMessage = await this.connection.request({
      janus: 'message_plugin',
      plugin: VIDEOROOM_PLUGIN,
      request: { request: 'list' },
    });
    const list = (reply.response as { list?: { room: string | number }[] }).list ?? [];
    return list.map((r) => String(r.room));
  }

  /** Every handle's info, session by session; those that went away meanwhile are skipped. */
  /** Hangs a handle's PeerConnection up (`hangup_webrtc`), as an operator does with a stuck one. */
  async hangUp(sessionId: number, handleId: number): Promise<void> {
    await this.connection.request({ janus: 'hangup_webrtc', session_id: sessionId, handle_id: handleId });
  }

  async allHandles(): Promise<HandleInfo[]> {
    const infos: HandleInfo[] = [];
    for (const session of await this.listSessions()) {
      const handles = await this.listHandles(session).catch(() => []);
      for (const handle of handles) {
        const info = await this.handleInfo(session, handle).catch(() => undefined);
        if (info) infos.push(info);
      }
    }
    return infos;
  }

  onClose(listener: () => void): () => void {
    return this.connection.onClose(listener);
  }

  close(): void {
    this.connection.close();
  }
}
