/**
 * How human output looks: emoji on a terminal, plain words elsewhere (a log file, a pipe, a
 * mail from cron). Decided here, once per stream, and passed to the renderers.
 */

/** Marks that carry meaning: a word replaces them off a terminal. */
const STATUS = {
  ok: ['✅', 'ok'],
  failed: ['❌', 'FAILED'],
  warning: ['⚠️ ', 'warning:'],
} as const;

export type StatusMark = keyof typeof STATUS;

export interface Style {
  /** True when emoji are drawn (the stream is a terminal). */
  readonly emoji: boolean;
  /** '✅ text' / 'ok text', '❌ text' / 'FAILED text', '⚠️  text' / 'warning: text'. */
  status(mark: StatusMark, text: string): string;
  /** A decoration before a heading ('📊 Registered Devices:'): dropped off a terminal. */
  deco(emoji: string, text: string): string;
}

export function makeStyle(emoji: boolean): Style {
  return {
    emoji,
    status: (mark, text) => `${STATUS[mark][emoji ? 0 : 1]} ${text}`,
    deco: (e, text) => (emoji ? `${e} ${text}` : text),
  };
}

/** The style of what goes to `stream` (stdout by default). */
export function styleFor(stream: NodeJS.WriteStream = process.stdout): Style {
  return makeStyle(stream.isTTY === true);
}
