#!/usr/bin/env python3
"""CPU (user + sys) of short hashall commands, builds interleaved: what process start-up costs.

  bench/startup.py --node NODE --tree DIR [--rounds 9] LABEL=PKG[:ENV=VALUE,...] ...

PKG is a package directory (dist/, package.json, node_modules, the addon's build/) whose
dist/cli/bin.js is run, as the installed `hashall` is. Each build gets its own catalog of TREE
(one first scan, not measured) and its own cache folders (XDG_CACHE_HOME, TMPDIR), warmed by
one unmeasured run of each command. Then every round runs each command once per build, the
builds' order rotating, and the child's CPU is read from wait4(2) (microseconds, unlike
time(1)'s 10 ms). Prints medians and the ratio to the first build. Wall-clock times on a
shared machine mean little; CPU per process does.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

COMMANDS = {
    '--version': lambda db, tree: ['--version'],
    'conductor status': lambda db, tree: ['conductor', 'status', '--catalog', db],
    'stats': lambda db, tree: ['stats', '--catalog', db],
    'conductor analyze': lambda db, tree: ['conductor', 'analyze', '--catalog', db],
    'scan (unchanged)': lambda db, tree: ['scan', tree, '--catalog', db, '--quiet'],
}


def cpu_of(argv, env):
    """Runs argv; returns its user + sys CPU seconds (fails loudly on a non-zero exit)."""
    with open(os.devnull, 'wb') as null:
        p = subprocess.Popen(argv, env=env, stdout=null, stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f'{" ".join(argv)}: exit {p.returncode}: {err.decode(errors="replace")}')
    return usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--node', required=True)
    ap.add_argument('--tree', required=True)
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('builds', nargs='+', help='LABEL=PKG[:ENV=VALUE,...]')
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix='hashall-startup-')
    builds = []
    for spec in args.builds:
        label, rest = spec.split('=', 1)
        pkg, _, extra = rest.partition(':')
        env = dict(os.environ, HASHALL_CATALOG='')
        for k in ('NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE'):
            env.pop(k, None)
        env['XDG_CACHE_HOME'] = os.path.join(work, label, 'xdg')
        env['TMPDIR'] = os.path.join(work, label, 'tmp')
        os.makedirs(env['TMPDIR'])
        for kv in filter(None, extra.split(',')):
            k, v = kv.split('=', 1)
            env[k] = v
        bin_js = os.path.join(pkg, 'dist', 'cli', 'bin.js')
        db = os.path.join(work, label, 'catalog.db')
        builds.append((label, bin_js, env, db))
        cpu_of([args.node, bin_js, 'scan', args.tree, '--catalog', db, '--quiet'], env)
        for make in COMMANDS.values():
            cpu_of([args.node, bin_js, *make(db, args.tree)], env)
    samples = {(c, b[0]): [] for c in COMMANDS for b in builds}
    for r in range(args.rounds):
        for name, make in COMMANDS.items():
            for i in range(len(builds)):
                label, bin_js, env, db = builds[(i + r) % len(builds)]
                samples[(name, label)].append(cpu_of([args.node, bin_js, *make(db, args.tree)], env))
    version = subprocess.run([args.node, '--version'], capture_output=True, text=True).stdout.strip()
    labels = [b[0] for b in builds]
    print(f'Node {version}, CPU user+sys in ms, median of {args.rounds} interleaved runs'
          f' (ratio to {labels[0]})')
    print('| command | ' + ' | '.join(labels) + ' |')
    print('|---|' + '---:|' * len(labels))
    for name in COMMANDS:
        base = statistics.median(samples[(name, labels[0])])
        cells = []
        for label in labels:
            m = statistics.median(samples[(name, label)])
            cells.append(f'{m * 1000:.0f}' + ('' if label == labels[0] else f' ({m / base:.2f})'))
        print(f'| {name} | ' + ' | '.join(cells) + ' |')
    subprocess.run(['rm', '-rf', work])


if __name__ == '__main__':
    main()
