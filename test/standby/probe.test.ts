import { createServer as createHttpServer, Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { probe } from '../../runtime/standby/probe';
import { selfSignedCertificate } from '../support/certificate';

/** How the standby agent asks whether a runtime answers: over http, or https when it serves TLS itself. */
const answer = (status: number) => (_req: unknown, res: import('node:http').ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
};

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

test('GIVEN a runtime over http THEN its status and body', async () => {
  const server = createHttpServer(answer(503));
  servers.push(server);
  const port = await listening(server);
  expect(await probe(`http://127.0.0.1:${port}/ready`, 1000)).toEqual({ status: 503, body: { status: 503 } });
});

test('GIVEN a runtime over https whose certificate names another host THEN it still answers', async () => {
  // The certificate is the service's (a DNS name); the probe reaches the runtime at an address.
  const { certificate, key } = selfSignedCertificate('rtc.example.org', ['DNS:rtc.example.org']);
  const server = createHttpsServer({ cert: certificate, key }, answer(200));
  servers.push(server);
  const port = await listening(server);
  expect(await probe(`https://127.0.0.1:${port}/ready`, 1000)).toEqual({
    status: 200,
    body: { status: 200 },
  });
  // http to a TLS port gets no HTTP answer: unreachable, not refused (something listens there).
  expect(await probe(`http://127.0.0.1:${port}/ready`, 1000)).toBe('unreachable');
});

test('GIVEN nothing listening THEN refused', async () => {
  const server = createHttpServer(answer(200));
  const port = await listening(server);
  await new Promise((resolve) => server.close(resolve));
  expect(await probe(`https://127.0.0.1:${port}/ready`, 1000)).toBe('refused');
});
