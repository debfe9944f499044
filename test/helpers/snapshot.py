#!/usr/bin/env python3
"""Independent snapshot of a tree for the tests: every regular file's path (bytes, base64),
inode, size and SHA-256, read fd-relative so paths longer than PATH_MAX work. JSON on stdout."""
import base64, hashlib, json, os, stat, sys

top = os.fsencode(sys.argv[1])
out = []
for dirpath, dirnames, filenames, dfd in os.fwalk(top, follow_symlinks=False):
    for name in filenames:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            continue
        h = hashlib.sha256()
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
        try:
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                h.update(b)
        finally:
            os.close(fd)
        rel = os.path.relpath(os.path.join(dirpath, name), top)
        out.append({"p": base64.b64encode(rel).decode(), "ino": st.st_ino, "size": st.st_size,
                    "sha": h.hexdigest(), "mode": st.st_mode, "uid": st.st_uid})
json.dump(out, sys.stdout)
