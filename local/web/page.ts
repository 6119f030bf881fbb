/**
 * The local cluster's web page (bundled for the browser by ./server.ts, with the SDK): join a
 * session, publish the camera, play every other participant's feed (autoSubscribe), and show the
 * cluster's nodes with buttons that signal them through the runner.
 */
import { RtcHaSession } from '../../runtime/client/session';
import { printEvents } from '../session-events';
import type { NodeAction, PageJoin, PageStatus } from './server';

const STATUS_EVERY_MS = 1_000;
const EVENTS_KEPT = 12;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('join');
const videos = $('videos');

let session: RtcHaSession | undefined;
let camera: MediaStream | undefined;

async function post<T>(path: string, body: object = {}): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const reply = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(reply.error ?? `HTTP ${res.status}`);
  return reply;
}

function logEvent(line: string): void {
  const list = $('events');
  const item = document.createElement('li');
  item.textContent = line.trim();
  list.prepend(item);
  while (list.children.length > EVENTS_KEPT) list.lastElementChild?.remove();
}

/** A video tile: `id` names it, `label` is who it shows. */
function showVideo(id: string, label: string, stream: MediaStream, muted: boolean): void {
  document.getElementById(id)?.remove();
  const figure = document.createElement('figure');
  figure.id = id;
  const video = document.createElement('video');
  Object.assign(video, { autoplay: true, playsInline: true, muted, srcObject: stream });
  const caption = document.createElement('figcaption');
  caption.textContent = label;
  figure.append(video, caption);
  videos.append(figure);
}

async function join(sessionId: string, participantId: string): Promise<void> {
  const { url, token } = await post<PageJoin>('/api/join', { sessionId, participantId });
  const joined = new RtcHaSession({ url, token });
  session = joined;
  printEvents(joined, logEvent);
  joined.on('trackAdded', ({ participantId: who, feedId, stream }) =>
    showVideo(`feed-${feedId}`, who, stream, false),
  );
  joined.on('trackRemoved', ({ feedId }) => document.getElementById(`feed-${feedId}`)?.remove());
  joined.on('failed', () => void leave());
  await joined.connect();
  try {
    camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    showVideo('own', `${participantId} (you)`, camera, true);
    await joined.publish(camera);
  } catch (err) {
    // No camera, or media off in the cluster: the session's signaling works all the same.
    logEvent(`not publishing: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function leave(): Promise<void> {
  const ending = session;
  session = undefined;
  camera?.getTracks().forEach((track) => track.stop());
  camera = undefined;
  videos.replaceChildren();
  setJoined(false);
  await ending?.leave().catch(() => ending.close());
}

function setJoined(joined: boolean): void {
  $<HTMLButtonElement>('join-button').disabled = joined;
  $('leave-button').hidden = !joined;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  setJoined(true);
  join(String(data.get('session')), String(data.get('participant'))).catch((err: unknown) => {
    logEvent(`cannot join: ${err instanceof Error ? err.message : String(err)}`);
    void leave();
  });
});
$('leave-button').addEventListener('click', () => void leave());
(form.elements.namedItem('participant') as HTMLInputElement).value =
  `user-${Math.random().toString(36).slice(2, 6)}`;

/** The buttons a node's row gets: a stopped node resumes instead of hanging, a gone one gets none. */
function actionsFor(process: string): NodeAction[] {
  if (process === 'exited' || process === 'gone') return [];
  return ['kill', process === 'stopped' ? 'resume' : 'hang', 'drain'];
}

/** Columns whose unhealthy values show in red. */
const STATE_COLUMNS = new Set(['process', 'registry', 'lb']);
const HEALTHY = new Set(['running', 'active', 'UP', '-']);

/**
 * Updates the table in place: rows and buttons are replaced only when they change, so a click
 * is never lost to a redraw between its mousedown and its mouseup.
 */
function renderNodes(status: PageStatus): void {
  $('media-off').hidden = status.media;
  const table = $<HTMLTableElement>('nodes');
  if (table.tHead?.rows.length === 0) {
    const head = table.tHead.insertRow();
    for (const title of [...status.columns.map(([, t]) => t), '']) {
      head.append(Object.assign(document.createElement('th'), { textContent: title }));
    }
  }
  const body = table.tBodies[0];
  const rows = status.nodes.map((node) => {
    let row = body.querySelector<HTMLTableRowElement>(`tr[data-node="${node.nodeId}"]`);
    if (!row) {
      row = document.createElement('tr');
      row.dataset.node = node.nodeId;
      for (const [key] of status.columns) row.insertCell().dataset.key = key;
      row.insertCell();
    }
    for (const [key] of status.columns) {
      const cell = row.querySelector(`td[data-key="${key}"]`) as HTMLTableCellElement;
      cell.textContent = node[key];
      cell.classList.toggle('bad', STATE_COLUMNS.has(key) && !HEALTHY.has(node[key]));
    }
    const actions = actionsFor(node.process);
    if (row.dataset.actions !== actions.join()) {
      row.dataset.actions = actions.join();
      row.cells[row.cells.length - 1].replaceChildren(
        ...actions.map((action) => {
          const button = document.createElement('button');
          button.textContent = action;
          button.dataset.node = node.nodeId;
          button.dataset.action = action;
          return button;
        }),
      );
    }
    return row;
  });
  if (rows.length !== body.rows.length || rows.some((row, i) => body.rows[i] !== row))
    body.replaceChildren(...rows);
}

$('nodes').addEventListener('click', (event) => {
  const { node, action } = (event.target as HTMLElement).dataset;
  if (!node || !action) return;
  post(`/api/nodes/${node}/${action}`)
    .then(refresh)
    .catch((err: unknown) => logEvent(`${action} ${node}: ${String(err)}`));
});

async function refresh(): Promise<void> {
  const res = await fetch('/api/status');
  renderNodes((await res.json()) as PageStatus);
}

function poll(): void {
  refresh()
    .catch(() => undefined) // the runner stopped: the table keeps its last state
    .finally(() => setTimeout(poll, STATUS_EVERY_MS));
}
poll();
