/**
 * The program of an active-standby pair node (constructs/standby-pair bundles this file as the node
 * image's main.js): the node image installs one program, and a pair node runs three, each its own
 * systemd unit. `main.js` runs the master (the image's own unit), `main.js media` the media agent,
 * `main.js standby <command>` rtc-standby (runtime/standby/main.ts).
 */
const [program] = process.argv.slice(2);
if (program === 'media') {
  void import('../media/main');
} else if (program === 'standby') {
  process.argv.splice(2, 1);
  void import('./main');
} else {
  void import('../master/main');
}
