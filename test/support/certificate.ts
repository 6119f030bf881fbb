import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM certificate and its unencrypted private key. */
export interface CertificatePems {
  readonly certificate: string;
  readonly key: string;
}

const EC_KEY = ['-pkeyopt', 'ec_paramgen_curve:P-256'];

/** Runs openssl in a scratch directory and returns the named files it wrote. */
function openssl<T extends string>(files: readonly T[], args: (paths: Record<T, string>) => string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'rtc-ha-pem-'));
  try {
    const paths = Object.fromEntries(files.map((f) => [f, join(dir, f)])) as Record<T, string>;
    execFileSync('openssl', args(paths), { stdio: 'ignore' });
    return Object.fromEntries(files.map((f) => [f, readFileSync(paths[f], 'utf8')])) as Record<T, string>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A throwaway self-signed EC certificate for `commonName`, valid one day, with `altNames` (`IP:...`, `DNS:...`). */
export function selfSignedCertificate(commonName: string, altNames: string[] = []): CertificatePems {
  const { cert, key } = openssl(['cert', 'key'], (p) => [
    ...['req', '-x509', '-newkey', 'ec', ...EC_KEY, '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '1'],
    ...['-subj', `/CN=${commonName}`],
    ...(altNames.length > 0 ? ['-addext', `subjectAltName=${altNames.join(',')}`] : []),
  ]);
  return { certificate: cert, key };
}

/** A throwaway EC private key, PEM. */
export function privateKey(): string {
  return openssl(['key'], (p) => ['genpkey', '-algorithm', 'EC', ...EC_KEY, '-out', p.key]).key;
}
