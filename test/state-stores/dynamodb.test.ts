// The DynamoDB state store against the shared contract, on moto's DynamoDB
// (TransactWriteItems with condition expressions, as the store relies on).

import { afterAll } from 'vitest';
import { describeStateStoreContract } from '../../src/stores/state-store.contract';
import { motoAvailable, startMoto, type Moto } from '../moto';
import { dynamoBackend, requireTool } from './backends';

let moto: Moto | undefined;
afterAll(async () => moto?.stop());

const skip = requireTool(motoAvailable(), 'moto_server');
describeStateStoreContract(
  'dynamodb (moto)',
  async () => {
    moto ??= await startMoto();
    return dynamoBackend(moto.endpoint);
  },
  skip ? { skip } : {},
);
