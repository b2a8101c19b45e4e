// The one place an error becomes a response. Known refusals keep their code
// and fixed message; everything else is a 500 with a fixed message, and the
// log gets the error's name and code only (never its message, which may
// quote a store's answer).

import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ZodError } from 'zod';
import { KeyholdError, errorCodes, type ErrorCode } from '../core/errors';
import type { Logger } from '../log';

export function errorBody(code: ErrorCode): { code: ErrorCode; message: string } {
  return { code, message: errorCodes[code].message };
}

export function toResponse(c: Context, e: unknown, logger: Logger): Response {
  const err = classify(e);
  if (err.retryAfter !== undefined) c.header('Retry-After', String(err.retryAfter));
  c.header('Cache-Control', 'no-store');
  const level = err.status >= 500 ? 'error' : 'info';
  logger.log(level, 'request_refused', {
    method: c.req.method,
    path: c.req.routePath,
    status: err.status,
    code: err.code,
    ...(err.code === 'internal' || err.status === 503 ? { cause: e instanceof KeyholdError ? e.cause : e } : {}),
  });
  return c.json(errorBody(err.code), err.status as 400);
}

function classify(e: unknown): { code: ErrorCode; status: number; retryAfter?: number } {
  if (e instanceof KeyholdError) return { code: e.code, status: e.status, ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter }) };
  if (e instanceof ZodError) return { code: 'invalid_request', status: 400 };
  if (e instanceof HTTPException) {
    if (e.status === 413) return { code: 'body_too_large', status: 413 };
    if (e.status < 500) return { code: 'invalid_request', status: 400 };
  }
  return { code: 'internal', status: 500 };
}
