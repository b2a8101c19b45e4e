// SigV4 signing with a time the broker controls. AWS refuses a request whose
// signing time is more than five minutes from its own clock
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html), so
// a commit signed with its send deadline cannot land later than that
// deadline plus five minutes (plus the skew between AWS's clock and the
// broker's), however long the request waits in a frozen Lambda or a
// retrying socket. The SDK would sign with the time it happens to run
// (`new Date(Date.now() + systemClockOffset)`, @aws-sdk/core
// AwsSdkSigV4Signer), which a resumed function could make minutes late.
//
// The store puts the signing time on the request in `signingTimeHeader`
// (added by `signWith` at the build step); this signer takes it off before
// signing, so it never reaches AWS and is not part of the signature.

import { SignatureV4 } from '@smithy/signature-v4';

export const signingTimeHeader = 'x-keyhold-signing-time';

type Sign = (toSign: unknown, options?: Record<string, unknown>) => Promise<unknown>;

export class DeadlineSigner extends SignatureV4 {
  constructor(...args: ConstructorParameters<typeof SignatureV4>) {
    super(...args);
    const base = this.sign.bind(this) as Sign;
    const sign: Sign = (toSign, options) => {
      const headers = typeof toSign === 'object' && toSign !== null ? (toSign as { headers?: Record<string, string> }).headers : undefined;
      const at = headers?.[signingTimeHeader];
      if (headers === undefined || at === undefined) return base(toSign, options);
      delete headers[signingTimeHeader];
      const ms = Number(at);
      if (!Number.isSafeInteger(ms)) throw new TypeError('a signing time must be whole milliseconds');
      return base(toSign, { ...options, signingDate: new Date(ms) });
    };
    this.sign = sign as SignatureV4['sign'];
  }
}

interface MiddlewareCommand {
  middlewareStack: {
    add(
      mw: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>,
      opts: { step: 'build'; name: string },
    ): void;
  };
}

/** Make `command` be signed at `time` (ms) by a client built with DeadlineSigner. */
export function signWith<C>(command: C, time: number): C {
  (command as unknown as MiddlewareCommand).middlewareStack.add(
    (next) => (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (req.headers) req.headers[signingTimeHeader] = String(Math.floor(time));
      return next(args);
    },
    { step: 'build', name: 'keyholdSigningTime' },
  );
  return command;
}
