// What the scenario runner needs from a relay under test, whichever program it is.
export interface Relay {
  readonly name: 'postfix' | 'postline';
  /** Where smtp-source connects (127.0.0.1). */
  readonly port: number;
  /** Root of the relay's process tree, for CPU time and memory. */
  readonly pid: number;
  /** Several nodes (Postline on one PostgreSQL database): every node's SMTP port; the load is split over them. */
  readonly ports?: readonly number[];
  /** …and every node's pid, whose process trees are summed. */
  readonly pids?: readonly number[];
  /** CPU ms the database server has spent for this relay so far (PostgreSQL runs); absent or null otherwise. */
  databaseCpuMs?(): Promise<number | null>;
  /** The kernel's own peak RSS for single-process relays; null when only sampling can tell. */
  peakRssBytes(): Promise<number | null>;
  /** The end of the relay's log, for error messages. */
  logTail(): Promise<string>;
  /** Stops the relay and waits until its processes are gone. Safe to call twice. */
  stop(): Promise<void>;
  /** Last resort from a process 'exit' handler: synchronous and best effort. */
  stopNow(): void;
}
