import { describe, expect, it } from 'vitest';
import { StoreError } from '../ports';
import { parseRecord } from './record-codec';
import { recordFor } from './state-store.contract';

describe('record codec', () => {
  it('refuses a stored interchange that is not valid EIP-3076, as a store fault', () => {
    const bad = { ...recordFor('v1'), slashingProtection: '{"metadata":{"interchange_format_version":"5"},"data":"x"}' };
    expect(() => parseRecord(JSON.stringify(bad))).toThrow(StoreError);
  });
  it('refuses an unknown predecessor and a malformed root', () => {
    expect(() => parseRecord(JSON.stringify({ ...recordFor('v1'), predecessor: 'maybe' }))).toThrow(StoreError);
    expect(() => parseRecord(JSON.stringify({ ...recordFor('v1'), genesisValidatorsRoot: '0x12' }))).toThrow(StoreError);
  });
  it('reads a record written before slashing history was tracked', () => {
    const { genesisValidatorsRoot: _g, predecessor: _p, stoppedEpochs: _s, ...old } = recordFor('v1');
    expect(parseRecord(JSON.stringify(old))).toEqual(old);
  });
});
