// The state table the DynamoDB store expects (pk, sk; on demand), created in
// moto by the store tests and the chaos harness alike.
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';

export const createStateTable = (table: string): CreateTableCommand =>
  new CreateTableCommand({
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  });
