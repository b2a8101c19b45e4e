// KEYHOLD_CLIENT → the file layout the mount mode writes for that client.

import type { ClientName } from '../config';
import { lighthouse } from './lighthouse';
import { lodestar } from './lodestar';
import { nimbus } from './nimbus';
import { prysm } from './prysm';
import { teku } from './teku';
import type { Layout } from './types';
import { web3signer } from './web3signer';

export const layouts: Readonly<Record<ClientName, Layout>> = { lighthouse, lodestar, teku, nimbus, prysm, web3signer };
