import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * Reads a Secrets Manager secret, or one string field of a JSON secret. The Lambda runtime ships
 * the AWS SDK, so the bundle carries no client code of its own.
 */
export async function readSecret(
  secretId: string,
  field: string | undefined,
  client: SecretsManagerClient = new SecretsManagerClient({}),
): Promise<string> {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (SecretString === undefined) throw new Error(`secret ${secretId} has no string value`);
  if (field === undefined) return SecretString;
  let parsed: unknown;
  try {
    parsed = JSON.parse(SecretString);
  } catch {
    throw new Error(`secret ${secretId} is not JSON, so it has no field ${field}`);
  }
  const value = (parsed as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string') throw new Error(`secret ${secretId} has no string field ${field}`);
  return value;
}
