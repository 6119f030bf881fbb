/**
 * What is inside a media agent's Janus, asked of Janus itself (its admin API), not of the agent:
 * the chaos suite's proof that a failed or drained node left no room behind and that no feed is
 * published twice. A media agent runs Janus as its child (`janus -F <config folder>`, Linux), and
 * the admin port and secret are in that folder's configuration (runtime/media/janus/config.ts).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { JanusAdmin } from '../../runtime/media/janus/admin';

/** One running Janus and how to reach its admin API. */
export interface JanusProcess {
  readonly pid: number;
  readonly adminUrl: string;
  readonly adminSecret: string;
}

/** What a Janus holds: its VideoRoom rooms and the publisher and subscriber handles in them. */
export interface JanusContents {
  readonly rooms: readonly string[];
  /** One per publisher handle that publishes streams: its room and feed id. */
  readonly publishers: ReadonlyArray<{ readonly room: string; readonly feed: string }>;
  /** The room of each VideoRoom publisher or subscriber handle, publishing or not (the agent's own manager handle aside). */
  readonly handles: readonly string[];
}

/** The Janus whose parent is `agentPid` (the agent's current one), or undefined. */
export function janusOfAgent(agentPid: number | undefined): JanusProcess | undefined {
  if (agentPid === undefined) return undefined;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat?.comm !== 'janus' || stat.ppid !== agentPid) continue;
    const found = janusProcess(Number(name));
    if (found) return found;
  }
  return undefined;
}

/** Whether `pid` still runs (a zombie does not: it holds nothing any more). */
export function running(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** Whether `pid` is stopped (SIGSTOP). */
export function stopped(pid: number): boolean {
  return procStat(pid)?.state === 'T';
}

/**
 * Asks `janus`'s admin API for its rooms and handles; rejects when it does not answer within
 * `timeoutMs` (a stopped Janus accepts the connection and never answers).
 */
export async function janusContents(janus: JanusProcess, timeoutMs = 2_000): Promise<JanusContents> {
  let done = false;
  let admin: JanusAdmin | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Janus ${janus.pid}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  const ask = async (): Promise<JanusContents> => {
    const opened = await JanusAdmin.connect(janus.adminUrl, janus.adminSecret, timeoutMs);
    if (done) {
      opened.close(); // answered after the timeout: nobody reads it
      throw new Error('too late');
    }
    admin = opened;
    const [rooms, handles] = await Promise.all([opened.listRooms(), opened.allHandles()]);
    const publishers: Array<{ room: string; feed: string }> = [];
    const participants: string[] = [];
    for (const handle of handles) {
      const role = handle.plugin_specific as
        { type?: string; room?: string | number; id?: string | number; streams?: unknown[] } | undefined;
      if (role?.type === 'publisher' && (role.streams?.length ?? 0) > 0)
        publishers.push({ room: String(role.room), feed: String(role.id) });
      if (role?.type === 'publisher' || role?.type === 'subscriber') participants.push(String(role.room));
    }
    return { rooms, publishers, handles: participants };
  };
  const asked = ask();
  asked.catch(() => undefined); // its rejection after the timeout is nobody's
  try {
    return await Promise.race([asked, timeout]);
  } finally {
    done = true;
    clearTimeout(timer);
    admin?.close();
  }
}

/** The Janus of pid `pid` and its admin API, from the configuration folder it was started with. */
export function janusProcess(pid: number): JanusProcess | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const configDir = args[args.indexOf('-F') + 1];
    if (!args.includes('-F') || !configDir) return undefined;
    const general = readFileSync(join(configDir, 'janus.jcfg'), 'utf8');
    const transport = readFileSync(join(configDir, 'janus.transport.websockets.jcfg'), 'utf8');
    const secret = /admin_secret\s*=\s*"([^"]*)"/.exec(general)?.[1];
    const port = /admin_ws_port\s*=\s*(\d+)/.exec(transport)?.[1];
    if (secret === undefined || port === undefined) return undefined;
    return { pid, adminUrl: `ws://127.0.0.1:${port}`, adminSecret: secret };
  } catch {
    return undefined; // gone meanwhile, or not a Janus we can read
  }
}

function procStat(pid: number): { comm: string; state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses: split at the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), state, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}
