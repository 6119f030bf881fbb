import { readFile, rename, writeFile } from 'node:fs/promises';

/**
 * Who holds the pair's service address. VRRP elects an active node only while the two hear each
 * other; with the pair link cut, both may think they are active, and this is the tie-breaker: the
 * address has one holder, the last claim wins, and a node that sees it lost the address steps down.
 */
export interface AddressArbiter {
  /** The node holding the address now (undefined: nobody). Rejects when it cannot tell. */
  holder(): Promise<string | undefined>;
  /** Takes the address for this node from whoever holds it. */
  claim(): Promise<void>;
}

/**
 * The one-machine stand-in for the Elastic IP's association (tests, benchmarks): a file that names
 * the holder, replaced atomically by each claim. Both nodes' agents see the same file whatever
 * happens to the network between them, as both nodes reach the EC2 API on AWS.
 */
export class FileArbiter implements AddressArbiter {
  constructor(
    private readonly path: string,
    private readonly node: string,
  ) {}

  async holder(): Promise<string | undefined> {
    try {
      return (await readFile(this.path, 'utf8')).trim() || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async claim(): Promise<void> {
    const tmp = `${this.path}.${this.node}.tmp`;
    await writeFile(tmp, `${this.node}\n`);
    await rename(tmp, this.path);
  }
}
