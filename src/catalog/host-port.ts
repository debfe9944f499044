/**
 * Hosts: the machines that use a catalog (README "Several hosts"). Both backends implement
 * this concern (hosts.ts for SQLite, pg/hosts.ts for PostgreSQL) over the same `hosts` table.
 */

/** What a host says about itself when it registers (src/fs/host.ts finds it). */
export interface HostSighting {
  readonly machineId: string;
  readonly hostname: string;
}

export interface HostRow {
  readonly id: number;
  readonly machineId: string;
  readonly hostname: string;
  /** Unix ms. */
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
}

export interface HostCatalog {
  readonly hosts: {
    /**
     * Register this host, or refresh it: one row per machine id, whose hostname and
     * last-seen time follow the latest sighting. Atomic: two processes of one host
     * registering at once leave one row.
     */
    register(s: HostSighting, at?: number): Promise<HostRow>;
    /** Every host, in registration order. */
    list(): Promise<readonly HostRow[]>;
  };
}
