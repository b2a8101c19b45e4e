// Evaluates admission-policy CEL the way the API server does: `variables`
// are computed lazily on first use, a validation that evaluates to false or
// fails to evaluate refuses the object (failurePolicy: Fail), and JSON
// integers are CEL ints.
import { Environment } from '@marcbachmann/cel-js';

export type CelVariable = { name: string; expression: string };
export type CelValidation = { expression: string; message?: string };
export type CelPolicy = { variables: CelVariable[]; validations: CelValidation[] };

const env = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });

function toCel(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}

export type Refusal = { message: string; error?: string };

/** The refusals an object gets (`request` is the admission request: userInfo, name, ...); an empty list means it is admitted. */
export function admit(policy: CelPolicy, object: unknown, request: unknown = {}): Refusal[] {
  const celObject = toCel(object);
  const celRequest = toCel(request);
  const variables: Record<string, unknown> = {};
  for (const v of policy.variables) {
    let computed = false;
    let cached: unknown;
    Object.defineProperty(variables, v.name, {
      enumerable: true,
      get() {
        if (!computed) {
          cached = env.evaluate(v.expression, { object: celObject, oldObject: null, request: celRequest, variables });
          computed = true;
        }
        return cached;
      },
    });
  }
  const refusals: Refusal[] = [];
  for (const validation of policy.validations) {
    const message = validation.message ?? validation.expression;
    try {
      const result = env.evaluate(validation.expression, { object: celObject, oldObject: null, request: celRequest, variables });
      if (result !== true) refusals.push({ message });
    } catch (error) {
      refusals.push({ message, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return refusals;
}
