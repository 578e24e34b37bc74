/**
 * What the MX remembers of a message it could not deliver to every recipient: for each
 * recipient whose mailbox server took it, that server's reply (with its queue id). When the
 * sender tries the message again, those recipients are left out, so each gets one copy.
 * Entries are written only when the sender is told to try again; a message delivered to all
 * at once leaves nothing here.
 */
export interface DeliveryJournal {
  /**
   * Whether the journal can be asked now. When it cannot, a transaction does not spread over
   * several backends (the `single` policy for that transaction).
   */
  readonly available: boolean;
  /** Recipients already delivered for this fingerprint: address → the backend's reply. */
  delivered(fingerprint: string): Promise<ReadonlyMap<string, string>>;
  /** Adds recipients delivered now; entries live for the journal's retention window. */
  record(fingerprint: string, delivered: ReadonlyMap<string, string>): Promise<void>;
  close(): Promise<void>;
}
