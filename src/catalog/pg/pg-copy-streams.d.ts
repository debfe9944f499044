/** The part of pg-copy-streams (it ships no types) that copy-rows.ts uses. */
declare module 'pg-copy-streams' {
  import type { Writable } from 'node:stream';
  import type { Submittable } from 'pg';
  /** `COPY … FROM STDIN` as a stream to write the data to; pass it to `client.query`. */
  export function from(text: string): Writable & Submittable;
}
