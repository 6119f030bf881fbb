// Lambda entry of the MasterWatchdog construct; the logic lives in runtime/watchdog.
import { createHandler } from '../../runtime/watchdog/lambda';

export const handler = createHandler();
