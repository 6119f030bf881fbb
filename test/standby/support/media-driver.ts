/**
 * The standby pair's driver (local/standby/driver.ts) with media: the chaos suite's media clients
 * (bench/support/chaos-media.ts: a Chromium camera publishing real VP8 with the bundled SDK, werift
 * subscribers counting the video frames they receive). startClients runs it in the pair's client
 * namespace when given it as `program`.
 */
import { chaosMediaTools } from '../../../bench/support/chaos-media';
import { driverMain } from '../../../local/standby/driver';

driverMain(chaosMediaTools);
