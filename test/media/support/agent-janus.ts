import { janusProcess } from '../../../local/chaos/janus';
import { JanusAdmin } from '../../../runtime/media/janus';

/**
 * The admin API of the Janus a media agent runs, found through the configuration the agent wrote
 * (`janus -F <dir>`; the tests run as root, so they can read it). `janusPid`: that Janus's pid.
 */
export async function agentJanusAdmin(janusPid: number): Promise<JanusAdmin> {
  const janus = janusProcess(janusPid);
  if (!janus) throw new Error(`no readable admin API for Janus ${janusPid}`);
  return JanusAdmin.connect(janus.adminUrl, janus.adminSecret);
}
