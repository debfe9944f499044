#!/usr/bin/env python3
"""readall.py -- the read-everything floor for bench/run.mjs.

Usage: find TREE -type f -print0 | python3 readall.py

Reads NUL-separated paths from stdin as find produces them (streaming, so find
and the reader overlap) and reads every file once, start to end, into one
reused 1 MiB buffer: no per-file allocation, no mmap, no hashing.  Prints one
JSON line: {"files": N, "bytes": B, "errors": E}.  Exit status 1 if a file
could not be read.
"""
import json
import os
import sys

BUF = 1 << 20


def main():
    buf = bytearray(BUF)
    bufs = [buf]
    stdin = sys.stdin.buffer.raw
    files = total = errors = 0
    rest = b''
    while True:
        chunk = stdin.read(1 << 16)
        if not chunk:
            break
        parts = (rest + chunk).split(b'\0')
        rest = parts.pop()
        for p in parts:
            try:
                fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                errors += 1
                continue
            try:
                while True:
                    n = os.readv(fd, bufs)
                    if n == 0:
                        break
                    total += n
                files += 1
            except OSError:
                errors += 1
            finally:
                os.close(fd)
    if rest:
        sys.exit('readall.py: input did not end with NUL (use find -print0)')
    sys.stdout.write(json.dumps(dict(files=files, bytes=total, errors=errors)) + '\n')
    sys.exit(1 if errors else 0)


if __name__ == '__main__':
    main()
