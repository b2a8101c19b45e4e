// The published contract describes both forms of the pod's grant and renewal bodies.

import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi';

interface Op {
  requestBody?: { content: { 'application/json': { schema: unknown } } };
  responses: Record<string, { content?: { 'application/json': { schema: unknown } } }>;
}

describe('the OpenAPI document for many validators', () => {
  it('describes the list bodies of POST /v1/grants and /renew, and their per-validator answers', () => {
    const paths = (openApiDocument() as { paths: Record<string, Record<string, Op>> }).paths;
    const fetchOp = paths['/v1/grants']!.post!;
    const renewOp = paths['/v1/grants/renew']!.post!;
    const fetchSchema = JSON.stringify(fetchOp.requestBody!.content['application/json'].schema);
    const renewSchema = JSON.stringify(renewOp.requestBody!.content['application/json'].schema);
    for (const field of ['"validator"', '"validators"', '"ephemeralKey"', '"maxItems":1000']) expect(fetchSchema).toContain(field);
    for (const field of ['"grant"', '"grants"', '"maxItems":1000']) expect(renewSchema).toContain(field);
    const listAnswer = JSON.stringify(fetchOp.responses['200']!.content!['application/json'].schema);
    for (const field of ['"results"', '"issued"', '"refused"', '"retryAfter"']) expect(listAnswer).toContain(field);
    expect(JSON.stringify(renewOp.responses['200']!.content!['application/json'].schema)).toContain('"renewed"');
  });
});
