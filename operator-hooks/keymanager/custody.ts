// Keys in a running validator client through its Keymanager API: one
// custody per pod, shared by the keepers of all its validators, so a fence
// of one validator removes only that key and the client keeps signing with
// the others.
//
// A DELETE's answer is not proof that the client stopped signing (Lodestar
// 1.5.1 answers "deleted" and keeps an active key, ../shared/CHAIN.md). The
// proof is a listing afterwards that no longer holds the key. A key still
// listed, or a client that cannot be asked, leaves one way: stop the client
// process, and count the stop as proven only once that process is gone.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StopEvidence } from '../broker-client';
import { fileNames } from '../key-files';
import type { Log } from '../log';
import type { SignerStop } from '../signer';
import type { ValidatorSettings } from '../layouts/types';
import { normalisePubkey, type KeymanagerApi } from './api';

export interface KeyStop {
  readonly evidence: StopEvidence;
  readonly why: string;
  /** The interchange the client returned when it deleted the key, for the release or acknowledgement. */
  readonly interchange: Record<string, unknown> | null;
}

export interface CustodyDeps {
  readonly api: KeymanagerApi;
  /** Stops the validator client process (signer.ts), the last resort. */
  readonly stopClient: () => Promise<SignerStop>;
  readonly log: Log;
}

/** The keystore's public key, as the Keymanager API names it. */
export async function keystorePubkey(keyDir: string): Promise<string | null> {
  const text = await readFile(join(keyDir, 'keystore.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const pk = (JSON.parse(text) as { pubkey?: unknown }).pubkey;
    return typeof pk === 'string' && /^(0x)?[0-9a-fA-F]{96}$/.test(pk) ? normalisePubkey(pk) : null;
  } catch {
    return null;
  }
}

export class KeymanagerCustody {
  /** validator → its public key, learnt when the key was loaded. */
  private readonly keys = new Map<string, string>();
  /** public key → the interchange its DELETE returned. */
  private readonly exports = new Map<string, Record<string, unknown>>();
  /** Keys whose DELETE the client answered: their keystore files are gone from its data dir. */
  private readonly offDisk = new Set<string>();
  /** Keys off disk whose client process was then seen to exit, with how: no process can sign with them. */
  private readonly stoppedWith = new Map<string, string>();
  /** One removal per key at a time: the sweeper and a fence may ask together. */
  private readonly removing = new Map<string, Promise<KeyStop>>();

  constructor(private readonly d: CustodyDeps) {}

  /**
   * Import the key fetch left in `keyDir` with its merged interchange.
   * True once the client has it (imported now, or already).
   */
  async load(validator: string, keyDir: string, settings?: ValidatorSettings): Promise<boolean> {
    const pubkey = await keystorePubkey(keyDir);
    if (pubkey === null) {
      this.d.log(`${validator}: no EIP-2335 keystore.json in ${keyDir}; the Keymanager mode needs one`);
      return false;
    }
    const text = (n: string) => readFile(join(keyDir, n), 'utf8').catch(() => null);
    const [keystore, password, interchange] = await Promise.all([text('keystore.json'), text('password.txt'), text(fileNames.slashingImport)]);
    if (keystore === null || password === null) {
      this.d.log(`${validator}: keystore.json or password.txt missing in ${keyDir}`);
      return false;
    }
    this.keys.set(validator, pubkey);
    this.exports.delete(pubkey);
    const a = await this.d.api.importKeys([keystore], [password.trim()], interchange);
    if (!a.ok) {
      this.d.log(`${validator}: import into the client failed (${a.reason})`);
      return false;
    }
    const s = a.body[0]!;
    if (s.status === 'error') {
      this.d.log(`${validator}: the client refused the import`);
      return false;
    }
    this.offDisk.delete(pubkey);
    this.stoppedWith.delete(pubkey);
    this.d.log(`${validator}: key ${short(pubkey)} ${s.status === 'duplicate' ? 'was already in' : 'imported into'} the client`);
    return this.applySettings(validator, pubkey, settings);
  }

  /**
   * KEYHOLD_VALIDATOR_SETTINGS_FILE through the API. A setting the client
   * refused leaves the key not yet handed over, so the keeper offers it
   * again (a duplicate import, then the settings) instead of letting the
   * client propose with its defaults.
   */
  private async applySettings(validator: string, pubkey: string, s: ValidatorSettings | undefined): Promise<boolean> {
    const calls: ['feerecipient' | 'gas_limit' | 'graffiti', Record<string, string>][] = [];
    if (s?.feeRecipient !== undefined) calls.push(['feerecipient', { ethaddress: s.feeRecipient }]);
    if (s?.gasLimit !== undefined) calls.push(['gas_limit', { gas_limit: String(s.gasLimit) }]);
    if (s?.graffiti !== undefined) calls.push(['graffiti', { graffiti: s.graffiti }]);
    for (const [setting, body] of calls) {
      const a = await this.d.api.setSetting(pubkey, setting, body);
      if (!a.ok) {
        this.d.log(`${validator}: setting ${setting} of ${short(pubkey)} failed (${a.reason})`);
        return false;
      }
    }
    return true;
  }

  /** Stop the client signing with `validator`'s key; proven only when it no longer lists it. */
  async unload(validator: string): Promise<KeyStop> {
    const pubkey = this.keys.get(validator);
    if (pubkey === undefined) return { evidence: 'unproven', why: `no key of ${validator} was loaded by this keeper`, interchange: null };
    const stop = await this.remove(pubkey);
    if (stop.evidence === 'proven') this.keys.delete(validator);
    return stop;
  }

  pubkeyOf(validator: string): string | null {
    return this.keys.get(validator) ?? null;
  }

  /**
   * After a client restart: every key it lists that is not in `live` goes at
   * once. `live` gives the public keys with a live grant. Returns what it
   * listed (null when it could not ask).
   */
  async reconcile(live: () => ReadonlySet<string>): Promise<ReadonlySet<string> | null> {
    const listed = await this.d.api.list();
    if (!listed.ok) {
      this.d.log(`cannot list the client's keys (${listed.reason})`);
      return null;
    }
    // Asked after the listing: a key imported while it ran is listed only once its keeper holds it.
    const keep = live();
    for (const pk of listed.body) {
      if (keep.has(pk)) continue;
      this.d.log(`the client lists ${short(pk)} without a live grant: removing it`);
      await this.remove(pk);
    }
    return new Set(listed.body);
  }

  private remove(pubkey: string): Promise<KeyStop> {
    const running = this.removing.get(pubkey);
    if (running) return running;
    const p = this.removeOnce(pubkey).finally(() => this.removing.delete(pubkey));
    this.removing.set(pubkey, p);
    return p;
  }

  private async removeOnce(pubkey: string): Promise<KeyStop> {
    const before = await this.d.api.list();
    if (!before.ok) {
      // A later key of a client already stopped: that process cannot be asked
      // any more, and no new one can load the key from files that are gone.
      const gone = this.stoppedWith.get(pubkey);
      if (gone !== undefined) return { evidence: 'proven', why: `the client that had ${short(pubkey)} was stopped (${gone}) after its keystore was deleted`, interchange: this.exports.get(pubkey) ?? null };
      return this.stopClient(pubkey, `the client cannot be asked (${before.reason})`);
    }
    // Listed again: a client has the key, whatever was proven of the one before.
    if (before.body.includes(pubkey)) this.stoppedWith.delete(pubkey);
    if (!before.body.includes(pubkey)) return { evidence: 'proven', why: `the client does not list ${short(pubkey)}`, interchange: this.exports.get(pubkey) ?? null };
    const del = await this.d.api.deleteKeys([pubkey]);
    if (!del.ok) return this.stopClient(pubkey, `DELETE failed (${del.reason})`);
    const interchange = parseInterchange(del.body.slashing_protection);
    if (interchange !== null) this.exports.set(pubkey, interchange);
    if (del.body.data[0]?.status === 'deleted') this.offDisk.add(pubkey);
    const after = await this.d.api.list();
    if (!after.ok) return this.stopClient(pubkey, `the client cannot be asked after the DELETE (${after.reason})`);
    if (after.body.includes(pubkey)) {
      await this.collectHistories(pubkey);
      return this.stopClient(pubkey, `the client still lists ${short(pubkey)} after answering ${del.body.data[0]!.status} to its DELETE`);
    }
    return { evidence: 'proven', why: `deleted ${short(pubkey)}; the client no longer lists it`, interchange };
  }

  /**
   * The client is about to be stopped and still answers: DELETE every other
   * key this custody loaded, in one request, so each keeps the history the
   * client signed with it. Once the process is gone, a key not asked for
   * would be released without its history (its successor told `unproven`).
   * A key still held is imported again when the client comes back.
   */
  private async collectHistories(except: string): Promise<void> {
    const others = [...new Set(this.keys.values())].filter((pk) => pk !== except);
    if (others.length === 0) return;
    const del = await this.d.api.deleteKeys(others);
    const all = del.ok ? parseInterchange(del.body.slashing_protection) : null;
    if (all === null) return void this.d.log(`could not collect the other keys' histories before stopping the client (${del.ok ? 'no interchange' : del.reason})`);
    for (const [i, pk] of others.entries()) {
      this.exports.set(pk, onlyKey(all, pk));
      if (del.ok && del.body.data[i]?.status === 'deleted') this.offDisk.add(pk);
    }
  }

  private async stopClient(pubkey: string, why: string): Promise<KeyStop> {
    this.d.log(`${why}: stopping the validator client`);
    const s = await this.d.stopClient();
    if (s.evidence === 'proven') for (const pk of this.offDisk) this.stoppedWith.set(pk, s.why);
    return { evidence: s.evidence, why: `${why}; ${s.why}`, interchange: this.exports.get(pubkey) ?? null };
  }
}

const short = (pk: string) => `${pk.slice(0, 10)}…`;

/** `interchange` with only `pubkey`'s entries: the broker refuses another key's. */
function onlyKey(interchange: Record<string, unknown>, pubkey: string): Record<string, unknown> {
  const data = Array.isArray(interchange.data) ? (interchange.data as { pubkey?: unknown }[]) : [];
  return { ...interchange, data: data.filter((d) => typeof d.pubkey === 'string' && normalisePubkey(d.pubkey) === pubkey) };
}

function parseInterchange(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
