// How long after its last request was *sent* a commit can still land, per
// state store, held on the store's side. The commit deadline C of invariant 3
// is the broker's send window plus this bound (plus the skew between the
// store's clock and the brokers' where the store's clock does the refusing).
//
// - dynamodb: AWS rejects a SigV4-signed request whose signing time is more
//   than five minutes from its own clock ("Signature expired"; "the signed
//   portions ... are valid within five minutes of the timestamp in the
//   request", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html,
//   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html).
//   The store signs with the send deadline, not the time the SDK happens to
//   run (src/stores/dynamodb/deadline-signer.ts), so a request that waits in
//   a frozen Lambda cannot be signed later than the deadline.
// - firestore: a transaction's commit is refused once the transaction is
//   older than 270 s ("Maximum time for a transaction: 270 seconds, with a
//   60-second idle expiration time", https://cloud.google.com/firestore/quotas#transactions).
//   The store begins no transaction attempt after its send deadline.
// - vault: KV v2 has no request expiry, but every version carries the
//   server's `created_time`
//   (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version);
//   the store counts a designation's wait from that landing time
//   (core/horizon.ts landedNotBefore), so a late write cannot shorten it.
// - sqlite: commits synchronously inside the deciding process.

/** ms after the send deadline a sent commit may still land; `serverClock`: the store's clock decides. */
export const commitLandingBounds: Readonly<Record<string, { readonly ms: number; readonly serverClock: boolean }>> = {
  sqlite: { ms: 0, serverClock: false },
  vault: { ms: 0, serverClock: false },
  dynamodb: { ms: 300_000, serverClock: true },
  firestore: { ms: 270_000, serverClock: true },
};

/** The send window a deployment gets by default. */
export const defaultCommitSendWindowMs = 5_000;
