/** Master process entry (the CDK bundles this file): configuration, then the master (runtime/node/entry.ts). */
import { runNodeProgram } from '../node/entry';
import { MASTER_ENV, masterConfigFromEnv } from './config';
import { startMaster } from './master';

void runNodeProgram({
  program: 'rtc-master',
  role: 'master',
  variables: Object.keys(MASTER_ENV),
  fromEnv: masterConfigFromEnv,
  start: startMaster,
});
