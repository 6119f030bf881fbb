/** rtc-ha-logs.service's program (the CDK bundles this file as log-shipper.js): see README.md. */
import { main } from './shipper';

main().then(
  (status) => process.exit(status),
  (err: unknown) => {
    process.stderr.write(`rtc-ha-logs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
