/**
 * Moved to fs/reachability.ts (a mount lookup, not scanning). This re-export keeps imports
 * written before the move compiling; new code imports from fs/.
 */
export {
  absolutePath,
  currentMounts,
  type MountView,
  type RecordedMount,
} from '../fs/reachability.js';
