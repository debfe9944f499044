/** The directory lister a walk uses: native when the addon loaded, else the pure-JS one. */
import type { DirLister } from './dir-list.js';
import { JsDirLister } from './js-list.js';
import { NativeDirLister } from './native-list.js';
import { nativeStatus } from './native.js';

export function openDirLister(): DirLister {
  const s = nativeStatus();
  return s.kind === 'loaded' ? new NativeDirLister(s.addon) : new JsDirLister();
}
