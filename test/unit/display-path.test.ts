/**
 * The human form of names: unchanged when printable UTF-8, shell-escaped (as `ls
 * --quoting-style=shell-escape`) otherwise, and bash reads the escaped form back to the bytes.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { displayPath, shellEscape } from '../../src/display-path.js';

const bytes = (...xs: (string | number)[]) =>
  Buffer.concat(xs.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from([x]))));

/** What bash makes of `s` as one printf argument. */
function throughBash(s: string): Buffer {
  const r = spawnSync('bash', ['-c', `printf %s ${s}`], { env: { LC_ALL: 'C' } });
  if (r.error) throw r.error;
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('displayPath', () => {
  it('prints ordinary names unchanged, spaces and quotes inside included', () => {
    for (const s of [
      '/data/a.txt',
      '/data/My Photos/café.jpg',
      "/x/Bob's file",
      '/a/$HOME',
      '日本',
    ])
      expect(displayPath(Buffer.from(s))).toBe(s);
  });

  it('escapes bytes that are not UTF-8 as ls does', () => {
    expect(displayPath(bytes('caf', 0xe9, '.txt'))).toBe("'caf'$'\\351''.txt'");
    expect(displayPath(bytes('/d/caf', 0xe9))).toBe("'/d/caf'$'\\351'");
  });

  it('escapes newlines and control characters', () => {
    expect(displayPath(Buffer.from('/a\nb'))).toBe("'/a'$'\\n''b'");
    expect(displayPath(Buffer.from('/t\tx\r\x1b[2J'))).toBe("'/t'$'\\t''x'$'\\r\\033''[2J'");
    expect(displayPath(Buffer.from('\u202etxt.exe'))).toBe("$'\\342\\200\\256''txt.exe'");
  });

  it('keeps different names different: U+FFFD, \\n spelled out, a leading quote', () => {
    const names = [
      bytes('/caf', 0xe9),
      bytes('/caf', 0xe8),
      Buffer.from('/caf\ufffd'),
      Buffer.from('/a\nb'),
      Buffer.from('/a\\nb'),
      Buffer.from("'/a'$'\\n''b'"),
      Buffer.from("$'x'"),
    ];
    const shown = names.map(displayPath);
    expect(new Set(shown).size).toBe(names.length);
  });

  it('round-trips through bash for hostile names', () => {
    for (const name of [
      bytes('caf', 0xe9, '.txt'),
      Buffer.from('new\nline'),
      Buffer.from("it's\n"),
      bytes(0xff, 0xfe, "'", 0x01, '\\', '"$`!'),
      Buffer.from("'quoted'"),
      Buffer.from('$dollar'),
      bytes('over', 0xc0, 0xaf, 'long', 0xed, 0xa0, 0x80),
    ]) {
      expect(throughBash(displayPath(name)).equals(name), displayPath(name)).toBe(true);
    }
  });

  it('round-trips any bytes through bash (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 24 }), (arr) => {
        const name = Buffer.from(arr.map((x) => (x === 0 ? 1 : x)));
        expect(throughBash(shellEscape(name)).equals(name)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});
