// --baseline REF: the same hashall rows run by another commit's build, interleaved with the
// working tree's, so that "no regression" is a ratio measured under the same conditions.
//
// The commit's files come from `git archive` (the working tree is not touched) into
// bench/.cache/baseline-<sha>/, built once by its own build script (or this checkout's
// TypeScript, for a commit from before the bundle) and its own native addon, with this
// checkout's node_modules (a symlink), and reused by later runs.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE, NODE, REPO } from './config.mjs';
import { fatal, firstLine, log, rmrf } from './util.mjs';

function git(args, opts = {}) {
  const r = spawnSync('git', ['-C', REPO, ...args], { encoding: 'utf8', ...opts });
  if (r.status !== 0) fatal(`git ${args.join(' ')}: ${firstLine(r.stderr) || `exit ${r.status}`}`);
  return r.stdout.trim();
}

/**
 * The commit's native addon, built from its own source as this checkout's is (`npm run
 * build:native`). Without it the baseline ran the JavaScript walk and read against this
 * checkout's addon, and every ratio against it measured the addon too (a rescan at "0.49").
 */
function buildNative(dir, ref) {
  if (!fs.existsSync(path.join(dir, 'binding.gyp'))) return; // a commit from before the addon
  if (!fs.existsSync(path.join(REPO, 'build', 'Release', 'hashall_native.node'))) {
    fatal(
      'this checkout has no native addon built (npm run build:native): the baseline would not run as it does',
    );
  }
  if (fs.existsSync(path.join(dir, 'build', 'Release', 'hashall_native.node'))) return;
  log(`building the baseline ${ref}'s native addon ...`);
  // npm puts its own node-gyp on the script's PATH, as for this checkout's build.
  const r = spawnSync('npm', ['run', 'build:native'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) {
    rmrf(path.join(dir, 'build'));
    fatal(
      `the baseline ${ref}'s native addon does not build: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
    );
  }
}

/** Build REF (once) and return it as a build the hashall rows accept. */
export function baselineBuild(ref) {
  const sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = path.join(CACHE, `baseline-${sha.slice(0, 12)}`);
  const cli = path.join(dir, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(cli)) {
    log(`building the baseline ${ref} (${sha.slice(0, 12)}) in ${path.relative(REPO, dir)} ...`);
    rmrf(dir);
    fs.mkdirSync(dir, { recursive: true });
    const archive = spawnSync('git', ['-C', REPO, 'archive', sha], { maxBuffer: 1 << 30 });
    if (archive.status !== 0) fatal(`git archive ${sha}: ${firstLine(String(archive.stderr))}`);
    const tar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
    if (tar.status !== 0) fatal(`unpacking ${sha}: ${firstLine(String(tar.stderr))}`);
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
    // The commit's own build: since the bundle, scripts/build.mjs (tsc, then esbuild); before
    // it, tsc alone.
    const script = path.join(dir, 'scripts', 'build.mjs');
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const argv = fs.existsSync(script) ? [script] : [tsc, '-p', 'tsconfig.build.json'];
    const b = spawnSync(NODE, argv, { cwd: dir, encoding: 'utf8' });
    if (b.status !== 0) {
      rmrf(path.join(dir, 'dist'));
      fatal(`the baseline ${ref} does not build: ${firstLine(b.stdout + b.stderr)}`);
    }
  }
  buildNative(dir, ref);
  const v = spawnSync(NODE, [cli, '--version'], { encoding: 'utf8' });
  if (v.status !== 0) fatal(`the baseline ${ref} does not run: ${firstLine(v.stderr)}`);
  return { key: 'baseline', title: `baseline ${sha.slice(0, 7)}`, cli, ref, sha };
}
