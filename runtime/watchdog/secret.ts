/**
 * Reads a Secrets Manager secret through the AWS Parameters and Secrets Lambda Extension (a layer
 * that serves secrets on localhost with the function's own permissions), so the bundle needs no
 * Secrets Manager client.
 */
export async function readSecret(
  secretId: string,
  field: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const port = env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? '2773';
  const response = await fetch(
    `http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`,
    {
      headers: { 'X-Aws-Parameters-Secrets-Token': env.AWS_SESSION_TOKEN ?? '' },
      signal: AbortSignal.timeout(5_000),
    },
  );
  if (!response.ok) throw new Error(`secret ${secretId}: the extension answered ${response.status}`);
  const { SecretString } = (await response.json()) as { SecretString?: string };
  if (SecretString === undefined) throw new Error(`secret ${secretId} has no string value`);
  if (field === undefined) return SecretString;
  const value = (JSON.parse(SecretString) as Record<string, unknown>)[field];
  if (typeof value !== 'string') throw new Error(`secret ${secretId} has no string field ${field}`);
  return value;
}
