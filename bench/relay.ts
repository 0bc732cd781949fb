// What the scenario runner needs from a relay under test, whichever program it is.
export interface Relay {
  readonly name: 'postfix' | 'postline';
  /** Where smtp-source connects (127.0.0.1). */
  readonly port: number;
  /** Root of the relay's process tree, for CPU time and memory. */
  readonly pid: number;
  /** The kernel's own peak RSS for single-process relays; null when only sampling can tell. */
  peakRssBytes(): Promise<number | null>;
  /** The end of the relay's log, for error messages. */
  logTail(): Promise<string>;
  /** Stops the relay and waits until its processes are gone. Safe to call twice. */
  stop(): Promise<void>;
  /** Last resort from a process 'exit' handler: synchronous and best effort. */
  stopNow(): void;
}
