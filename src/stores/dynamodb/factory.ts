// KEYHOLD_STATE_STORE=dynamodb: settings from the environment → client with
// the SDK's retries off → store behind the resilience wrapper.

import { ConfigError } from '../../config';
import type { StateStore } from '../../ports';
import type { StoreContext } from '../registry';
import { defaultResilience, resilientStateStore } from '../resilience';
import { DynamoDbStateStore, dynamoClient } from './state-store';

// Table names: 3 to 255 of [a-zA-Z0-9_.-] (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
const tablePattern = /^[A-Za-z0-9_.-]{3,255}$/;

export async function createDynamoDbStateStore(ctx: StoreContext): Promise<StateStore> {
  const table = ctx.env.KEYHOLD_DYNAMODB_TABLE ?? '';
  if (!tablePattern.test(table)) throw new ConfigError(`KEYHOLD_DYNAMODB_TABLE must name the state table (3-255 of A-Z a-z 0-9 _ . -), got "${table}"`);
  const region = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || '';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new ConfigError(`AWS_REGION must be an AWS region like eu-west-1, got "${region}"`);
  // Test only: moto or DynamoDB Local. The broker never needs it in AWS.
  const endpoint = ctx.env.KEYHOLD_DYNAMODB_ENDPOINT;
  if (endpoint !== undefined && endpoint !== '' && !/^https?:\/\/[^\s/]+\/?$/.test(endpoint)) throw new ConfigError(`KEYHOLD_DYNAMODB_ENDPOINT must be a URL like http://127.0.0.1:5000, got "${endpoint}"`);
  const client = dynamoClient({ region, ...(endpoint ? { endpoint } : {}) });
  return resilientStateStore(new DynamoDbStateStore({ client, table, clock: ctx.clock }), defaultResilience, ctx.storeHooks);
}
