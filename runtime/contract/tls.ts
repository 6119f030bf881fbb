import { X509Certificate, createPrivateKey } from 'node:crypto';
import { z } from 'zod';

/**
 * A TLS server's certificate chain and private key, read from one PEM bundle: the master's
 * RTC_TLS_PEM, a media node's RTC_TURN_TLS_PEM (each a Secrets Manager secret on AWS).
 */
export interface TlsPem {
  /** The certificate, then any intermediates, PEM. */
  readonly certificateChain: string;
  /** The first certificate's private key, PEM, unencrypted. */
  readonly privateKey: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;

/**
 * The certificate chain and private key of a PEM bundle (the certificate, any intermediates, and
 * the key, in any order), or what is wrong with it. A problem never quotes the bundle.
 */
export function parseTlsPem(pem: string): { ok: true; tls: TlsPem } | { ok: false; problem: string } {
  const blocks = [...pem.matchAll(PEM_BLOCK)].map(([block, label]) => ({ block, label }));
  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.block);
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY')).map((b) => b.block);
  if (certificates.length === 0 || keys.length !== 1) {
    return {
      ok: false,
      problem: `must hold PEM certificates and one private key (found ${certificates.length} certificates and ${keys.length} keys)`,
    };
  }
  try {
    const certificate = new X509Certificate(certificates[0]);
    if (!certificate.checkPrivateKey(createPrivateKey(keys[0]))) {
      return { ok: false, problem: "the private key is not the first certificate's" };
    }
  } catch (err) {
    return { ok: false, problem: `unreadable PEM: ${(err as Error).message}` };
  }
  return {
    ok: true,
    tls: { certificateChain: `${certificates.join('\n')}\n`, privateKey: `${keys[0]}\n` },
  };
}

/** A variable holding a PEM bundle (parseTlsPem), parsed into a TlsPem; its problem names the variable only. */
export const tlsPemVar = () =>
  z.string().transform((pem, ctx) => {
    const parsed = parseTlsPem(pem);
    if (parsed.ok) return parsed.tls;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed.problem });
    return z.NEVER;
  });
