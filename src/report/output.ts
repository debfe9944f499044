/**
 * Where a report or an export goes: standard output (`-`) or a file written atomically (a
 * temporary name in the same directory, renamed over the target when complete, so a reader
 * never sees half a file and an interrupted run leaves the old one in place).
 *
 * Writes are batched and awaited: at most one chunk is in flight, so memory stays bounded
 * however many rows go out and however slowly the reader takes them.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EXIT, UserError, describeErrno, errnoCode } from '../errors.js';
import { TEMP_PREFIX } from '../fs/temp-name.js';

/** The reader went away (EPIPE on stdout, e.g. `| head`): stop quietly. */
export class OutputClosed extends Error {
  constructor() {
    super('output closed by the reader');
    this.name = 'OutputClosed';
  }
}

const FLUSH_AT = 256 * 1024;

export interface OutputOptions {
  /** Asked at every flush: true stops the run (Ctrl-C) with exit 130. */
  readonly shouldStop?: () => boolean;
  /** Files the output must never replace (the catalog): refused with exit 2. */
  readonly protect?: readonly string[];
}

/** The same file: the same path, or the same inode (a link or a symlink to it). */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Write all of `buf` (short writes happen on pipes and devices); failures name the output. */
async function writeAll(fh: FileHandle | undefined, buf: Buffer, label: string): Promise<void> {
  if (!fh) throw new Error('output already closed');
  try {
    for (let off = 0; off < buf.length;) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
  } catch (err) {
    throw new UserError(`cannot write ${label}: ${describeErrno(err)}`, EXIT.partial);
  }
}

export abstract class Output {
  private parts: string[] = [];
  private pending = 0;
  private written = 0;

  protected constructor(
    /** What to call the destination in messages. */
    readonly label: string,
    private readonly opts: OutputOptions,
  ) {}

  /**
   * Queue text. Returns a promise when the batch was flushed: the caller awaits it, and that
   * wait is the backpressure (and the moment Ctrl-C is noticed).
   */
  write(text: string): Promise<void> | undefined {
    this.parts.push(text);
    this.pending += text.length;
    return this.pending >= FLUSH_AT ? this.flush() : undefined;
  }

  /** Bytes handed to the destination so far. */
  get bytes(): number {
    return this.written;
  }

  protected async flush(): Promise<void> {
    if (this.pending > 0) {
      const buf = Buffer.from(this.parts.join(''), 'utf8');
      this.parts = [];
      this.pending = 0;
      await this.put(buf);
      this.written += buf.length;
    }
    // Let the event loop run (signals are delivered there) even when writes complete at once.
    await new Promise<void>((r) => setImmediate(r));
    // A reader that went away is also a stop request to the CLI; here it is the quiet end.
    this.checkOpen();
    if (this.opts.shouldStop?.()) {
      throw new UserError(
        `interrupted; ${this.label === '-' ? 'the output is incomplete' : `${this.label} was not written`}`,
        EXIT.interrupted,
      );
    }
  }

  protected abstract put(buf: Buffer): Promise<void>;

  /** Throws if the destination failed since the last write (its error came as an event). */
  protected checkOpen(): void {}

  /** Write what is queued and make the result visible. */
  abstract finish(): Promise<void>;

  /** Give up: nothing of a file output is left behind. Never throws. */
  abstract abort(): Promise<void>;
}

class StdoutOutput extends Output {
  private failed: Error | undefined;
  private readonly onError = (err: Error) => {
    this.failed = err;
  };

  constructor(opts: OutputOptions) {
    super('-', opts);
    process.stdout.on('error', this.onError);
  }

  protected override checkOpen(): void {
    if (this.failed) throw this.closedOr(this.failed);
  }

  protected async put(buf: Buffer): Promise<void> {
    this.checkOpen();
    await new Promise<void>((resolve, reject) => {
      process.stdout.write(buf, (err) => (err ? reject(err) : resolve()));
    }).catch((err: unknown) => {
      throw this.closedOr(err);
    });
  }

  private closedOr(err: unknown): Error {
    if (errnoCode(err) === 'EPIPE') return new OutputClosed();
    return new UserError(`cannot write to standard output: ${describeErrno(err)}`, EXIT.partial);
  }

  async finish(): Promise<void> {
    await this.flush();
    process.stdout.off('error', this.onError);
  }

  async abort(): Promise<void> {
    process.stdout.off('error', this.onError);
  }
}

class FileOutput extends Output {
  /** A second Ctrl-C exits at once (process.exit): the temporary file goes with us. */
  private readonly onExit = () => {
    try {
      unlinkSync(this.temp);
    } catch {
      // not there
    }
  };

  private constructor(
    label: string,
    private readonly path: string,
    private readonly temp: string,
    private fh: FileHandle | undefined,
    opts: OutputOptions,
  ) {
    super(label, opts);
    process.on('exit', this.onExit);
  }

  static async create(out: string, opts: OutputOptions): Promise<Output> {
    let path = resolve(out);
    let st: Stats | undefined;
    try {
      st = statSync(path); // follows a symlink: what matters is what it names
    } catch {
      // not there yet (or a dangling symlink): a new file
    }
    if (st?.isDirectory())
      throw new UserError(`cannot write ${out}: it is a directory; give a file name`);
    if (st?.isBlockDevice())
      throw new UserError(`cannot write ${out}: it is a block device (a disk); give a file name`);
    if (st && !st.isFile()) {
      // A character device (/dev/null, a tty) or a FIFO is written to, never replaced: renaming
      // a temporary file over /dev/null would replace the device node with a regular file.
      return DeviceOutput.create(out, opts);
    }
    if (st) {
      try {
        if (lstatSync(path).isSymbolicLink()) path = realpathSync(path); // replace the file, keep the link
      } catch {
        // raced away: treat as a new file
      }
    } else {
      try {
        if (lstatSync(path).isSymbolicLink())
          throw new UserError(
            `cannot write ${out}: it is a symlink to a file that does not exist; give a file name`,
          );
      } catch (err) {
        if (err instanceof UserError) throw err;
      }
    }
    for (const p of opts.protect ?? []) {
      for (const suffix of ['', '-wal', '-shm', '-journal']) {
        if (sameFile(path, p + suffix))
          throw new UserError(
            `--out ${out} is ${suffix ? `the catalog's ${suffix.slice(1)} file` : 'the catalog'}; give another file name`,
          );
      }
    }
    const temp = join(
      dirname(path),
      `.${basename(path)}${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    let fh: FileHandle;
    try {
      // 0600 whatever the umask: file names are data (as the catalog itself).
      fh = await open(temp, 'wx', 0o600);
    } catch (err) {
      throw new UserError(`cannot write ${out}: ${describeErrno(err)}`);
    }
    return new FileOutput(out, path, temp, fh, opts);
  }

  protected async put(buf: Buffer): Promise<void> {
    await writeAll(this.fh, buf, this.label);
  }

  async finish(): Promise<void> {
    await this.flush();
    const fh = this.fh!;
    try {
      await fh.datasync();
      await fh.close();
      this.fh = undefined;
      await rename(this.temp, this.path);
      process.off('exit', this.onExit);
    } catch (err) {
      throw new UserError(`cannot write ${this.label}: ${describeErrno(err)}`, EXIT.partial);
    }
  }

  async abort(): Promise<void> {
    try {
      await this.fh?.close();
    } catch {
      // closing a file we are about to remove
    }
    this.fh = undefined;
    try {
      await unlink(this.temp);
    } catch {
      // already gone (or renamed into place)
    }
    process.off('exit', this.onExit);
  }
}

/** A character device or FIFO: written in place (there is nothing to replace atomically). */
class DeviceOutput extends Output {
  private constructor(
    label: string,
    private fh: FileHandle | undefined,
    opts: OutputOptions,
  ) {
    super(label, opts);
  }

  static async create(out: string, opts: OutputOptions): Promise<DeviceOutput> {
    try {
      return new DeviceOutput(out, await open(out, 'a'), opts);
    } catch (err) {
      throw new UserError(`cannot write ${out}: ${describeErrno(err)}`);
    }
  }

  protected async put(buf: Buffer): Promise<void> {
    await writeAll(this.fh, buf, this.label);
  }

  async finish(): Promise<void> {
    await this.flush();
    const fh = this.fh!;
    this.fh = undefined;
    try {
      await fh.close();
    } catch (err) {
      throw new UserError(`cannot write ${this.label}: ${describeErrno(err)}`, EXIT.partial);
    }
  }

  async abort(): Promise<void> {
    try {
      await this.fh?.close();
    } catch {
      // giving up anyway
    }
    this.fh = undefined;
  }
}

/**
 * `-` is standard output; a character device or FIFO is written in place; anything else is a
 * file, replaced atomically when finished (through a symlink: the file it names).
 */
export async function openOutput(out: string, opts: OutputOptions = {}): Promise<Output> {
  return out === '-' ? new StdoutOutput(opts) : FileOutput.create(out, opts);
}
