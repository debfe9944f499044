/**
 * A PostgreSQL failure in the middle of a command — the server went away or restarted, an
 * administrator ended the session, a statement failed — as one line that names the catalog
 * (its location: never a password, even inside the driver's text) and says what to do. Exit
 * 1: the command stopped part-way; what it committed stays, and running it again converges.
 */
import { EXIT, UserError, errnoCode } from '../../errors.js';
import { redactUrl, resolvePgTarget } from './target.js';
import { rootCause } from './write-behind.js';

const LOST = /^(57P01|57P02|57P03|08000|08003|08006|ECONNRESET|EPIPE|ECONNREFUSED|ENOENT)$/;
/** The driver's own words for a connection gone, on the query that was running or a later one. */
const LOST_TEXT = /Connection terminated|connection error and is not queryable|not queryable/i;

/** Whether err came from the server or the connection to it (not a bug of ours). */
function fromPostgres(err: unknown): boolean {
  const code = errnoCode(err) ?? '';
  const msg = err instanceof Error ? err.message : '';
  return /^[0-9A-Z]{5}$/.test(code) || LOST.test(code) || LOST_TEXT.test(msg);
}

export function pgFailure(url: string, failure: unknown): UserError | undefined {
  // A statement refused because a write queued behind the walk failed: that failure is the news.
  const err = rootCause(failure);
  if (err instanceof UserError || !fromPostgres(err)) return undefined;
  let location = redactUrl(url);
  let password: string | undefined;
  try {
    const t = resolvePgTarget(url);
    location = t.location;
    password = t.password;
  } catch {
    // the URL was accepted once already; keep the redacted form
  }
  let msg = redactUrl(err instanceof Error ? err.message : String(err));
  if (password) msg = msg.split(password).join('***');
  const code = errnoCode(err) ?? '';
  const lost = LOST.test(code) || LOST_TEXT.test(msg);
  return new UserError(
    lost
      ? `catalog ${location}: the connection to the server was lost (${msg}); what was committed is kept: check that the server is up and run the command again`
      : `catalog ${location}: the server refused a statement (${code}: ${msg}); run the command again, or with --debug to report it`,
    EXIT.partial,
  );
}
