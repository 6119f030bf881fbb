/** Media agent process entry (the CDK bundles this file): configuration, then the agent (runtime/node/entry.ts). */
import { runNodeProgram } from '../node/entry';
import { startMediaAgent } from './agent';
import { MEDIA_ENV, mediaConfigFromEnv } from './config';

void runNodeProgram({
  program: 'rtc-media',
  role: 'media',
  variables: Object.keys(MEDIA_ENV),
  fromEnv: mediaConfigFromEnv,
  start: startMediaAgent,
});
