import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { connect } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, waitFor } from '../../../local/ports';
import { AwsApiStandIn, startAwsApi } from '../../support/aws-api';
import { run } from './rootfs';

/** A secret's stages, as Secrets Manager keeps them; no `previous`: never rotated. */
export interface SecretStages {
  readonly current: string;
  readonly previous?: string;
}

/**
 * The AWS side of a booting node on test/support/aws-api.ts: SSM `GetParameter` from `parameters`,
 * Secrets Manager `GetSecretValue` by stage from `secrets` (a stage that does not exist is a
 * ResourceNotFoundException, as Secrets Manager answers it), and CloudFormation `SignalResource`.
 */
export async function startBootAwsApi(
  parameters: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, SecretStages>>,
): Promise<AwsApiStandIn> {
  const aws = await startAwsApi();
  return aws
    .on('AmazonSSM.GetParameter', ({ Name }) => {
      const name = String(Name);
      return name in parameters
        ? { result: { Parameter: { Name: name, Type: 'String', Value: parameters[name], Version: 1 } } }
        : { error: 'ParameterNotFound', message: `no parameter ${name}` };
    })
    .on('secretsmanager.GetSecretValue', ({ SecretId, VersionStage }) => {
      const id = String(SecretId);
      const stage = String(VersionStage ?? 'AWSCURRENT');
      const stages = secrets[id];
      const value =
        stage === 'AWSCURRENT' ? stages?.current : stage === 'AWSPREVIOUS' ? stages?.previous : undefined;
      return value === undefined
        ? {
            error: 'ResourceNotFoundException',
            message: `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
          }
        : { result: { ARN: id, Name: id.split(':').pop(), SecretString: value, VersionStages: [stage] } };
    })
    .on('SignalResource', () => ({ result: '' }));
}

/** A redis-server speaking only TLS and asking for a password, the way ElastiCache is set up. */
export interface TlsRedis {
  readonly port: number;
  readonly authToken: string;
  /** PEM of the CA that signed the server's certificate. */
  readonly caFile: string;
  stop(): Promise<void>;
}

/** Makes a CA and a certificate for 127.0.0.1 with openssl, then starts redis-server with them. */
export async function startTlsRedis(authToken: string): Promise<TlsRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-tls-redis-'));
  const file = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=rtc-ha test CA',
  ]);
  run('openssl', [
    'req',
    ...ec,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  fs.writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
  ]);
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      file('server.crt'),
      '--tls-key-file',
      file('server.key'),
      '--tls-ca-cert-file',
      file('ca.crt'),
      '--tls-auth-clients',
      'no',
      '--requirepass',
      authToken,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `redis-server (TLS) on port ${port}`,
      () => child.exitCode === null && accepts(port),
      10_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, authToken, caFile: file('ca.crt'), stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
