import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A recorded call: the operation and its input (JSON body, or the form fields of a Query call). */
export interface AwsCall {
  readonly target: string;
  readonly input: Record<string, unknown>;
}

/** What a handler answers: a result, or an AWS error with its type name (e.g. ResourceNotFoundException). */
export type AwsReply = { result: unknown } | { error: string; status?: number; message?: string };
export type AwsHandler = (input: Record<string, unknown>) => AwsReply;

/** A local stand-in for AWS APIs, for AWS_ENDPOINT_URL. */
export interface AwsApiStandIn {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Every call so far, in order. */
  readonly calls: AwsCall[];
  /**
   * Answers `target` with `handler`. JSON 1.1 services are addressed by their X-Amz-Target
   * (`AmazonSSM.GetParameter`, `secretsmanager.GetSecretValue`): the result is sent as JSON.
   * Query services (CloudFormation, Auto Scaling) by their Action (`SignalResource`): the result
   * is XML for inside `<ActionResult>` ('' for none).
   */
  on(target: string, handler: AwsHandler): this;
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1; an operation without a handler answers a 400 error. */
export async function startAwsApi(): Promise<AwsApiStandIn> {
  const handlers = new Map<string, AwsHandler>();
  const calls: AwsCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  const answer = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const jsonTarget = req.headers['x-amz-target'];
    const query = jsonTarget ? undefined : Object.fromEntries(new URLSearchParams(body));
    const target = typeof jsonTarget === 'string' ? jsonTarget : String(query?.Action);
    const input: Record<string, unknown> =
      query ?? (body ? (JSON.parse(body) as Record<string, unknown>) : {});
    calls.push({ target, input });
    const handler = handlers.get(target);
    const reply: AwsReply = handler
      ? handler(input)
      : { error: 'UnknownOperationException', message: `no handler for ${target}` };
    if (query) {
      const action = target;
      const xml =
        'result' in reply
          ? `<${action}Response><${action}Result>${String(reply.result)}</${action}Result></${action}Response>`
          : `<ErrorResponse><Error><Type>Sender</Type><Code>${reply.error}</Code><Message>${reply.message ?? ''}</Message></Error></ErrorResponse>`;
      res.writeHead('result' in reply ? 200 : (reply.status ?? 400), { 'content-type': 'text/xml' }).end(xml);
      return;
    }
    const json =
      'result' in reply ? reply.result : { __type: reply.error, message: reply.message ?? reply.error };
    res
      .writeHead('result' in reply ? 200 : (reply.status ?? 400), {
        'content-type': 'application/x-amz-json-1.1',
      })
      .end(JSON.stringify(json));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const standIn: AwsApiStandIn = {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    on(target, handler) {
      handlers.set(target, handler);
      return standIn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return standIn;
}
