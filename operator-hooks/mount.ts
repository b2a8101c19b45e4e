// The mount mode's layout for the whole pod: every key this pod holds, in the
// files KEYHOLD_CLIENT reads at boot, with the per-validator settings. fetch
// writes it once its keys are in; the keeper takes one key out of it when
// that key's grant ends, and leaves the others.

import { readFile } from 'node:fs/promises';
import type { BrokerSettings } from './config';
import { readGrantedKey, removeFromLayout, wipeLayout, writeLayout } from './key-files';
import { layouts } from './layouts';
import type { SettingsOf } from './layouts/settings';
import type { GrantedKey } from './layouts/types';

type MountSettings = Pick<BrokerSettings, 'client' | 'settingsFile' | 'keyDir' | 'keyDirOf' | 'validators'>;

/** KEYHOLD_VALIDATOR_SETTINGS_FILE, read and checked now (SettingsError on bad content). */
export async function settingsOf(c: Pick<BrokerSettings, 'settingsFile'>): Promise<SettingsOf> {
  if (c.settingsFile === null) return () => undefined;
  // Read failures and bad content stop fetch (exit 1) rather than start a
  // client that would pay fees to the wrong address.
  // Loaded only when configured: the parser's schema library costs every
  // hook start (fetch, keeper and each probe exec) about half a second.
  const { parseValidatorSettings } = await import('./layouts/settings');
  return parseValidatorSettings(await readFile(c.settingsFile, 'utf8'));
}

async function heldKeys(c: MountSettings, settings: SettingsOf, except?: string): Promise<GrantedKey[]> {
  const keys = await Promise.all(c.validators.filter((v) => v !== except).map((v) => readGrantedKey(v, c.keyDirOf(v), settings(v))));
  return keys.filter((k): k is GrantedKey => k !== null);
}

/** Before fetch writes anything: nothing of an earlier run's layout stays. */
export async function clearMountLayout(c: MountSettings): Promise<void> {
  if (c.client !== null) await wipeLayout(c.keyDir, layouts[c.client]);
}

/** After fetch installed its keys: the client's files for every key held. Returns the paths written. */
export async function writeMountLayout(c: MountSettings): Promise<string[]> {
  if (c.client === null) return [];
  return writeLayout(c.keyDir, layouts[c.client].files(c.keyDir, await heldKeys(c, await settingsOf(c))));
}

/** Take `validator`'s key out of the client's files (call before its own directory is wiped). */
export async function removeFromMountLayout(c: MountSettings, validator: string): Promise<string[]> {
  if (c.client === null) return [];
  const gone = await readGrantedKey(validator, c.keyDirOf(validator));
  if (gone === null) return [];
  // A removal never fails on the settings: the key must go either way.
  const settings = await settingsOf(c).catch(() => () => undefined);
  return removeFromLayout(c.keyDir, layouts[c.client], gone, await heldKeys(c, settings, validator));
}
