import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JanusAdmin } from '../../../runtime/media/janus';

/**
 * The admin API of the Janus a media agent runs, found through the configuration the agent wrote
 * (`janus -F <dir>`; the tests run as root, so they can read it). `janusPid`: that Janus's pid.
 */
export async function agentJanusAdmin(janusPid: number): Promise<JanusAdmin> {
  const argv = (await readFile(`/proc/${janusPid}/cmdline`, 'utf8')).split('\0');
  const dir = argv[argv.indexOf('-F') + 1];
  if (!dir) throw new Error(`Janus ${janusPid} was not started with -F <config folder>`);
  const janus = await readFile(join(dir, 'janus.jcfg'), 'utf8');
  const transport = await readFile(join(dir, 'janus.transport.websockets.jcfg'), 'utf8');
  const secret = /admin_secret = "([^"]+)"/.exec(janus)?.[1];
  const port = /admin_ws_port = (\d+)/.exec(transport)?.[1];
  if (!secret || !port) throw new Error(`no admin API in the configuration under ${dir}`);
  return JanusAdmin.connect(`ws://127.0.0.1:${port}`, secret);
}
