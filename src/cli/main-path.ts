/**
 * The command line's entry file, which scheduled jobs (`conductor auto-execute --install`) run.
 * It is located from this module's own URL, so this module sits two folders below the package
 * root, as the bundle's files do (scripts/build.mjs): `../cli/main.js` names dist/cli/main.js
 * from tsc's dist/cli/main-path.js and from the bundle's dist/cli/main.js alike.
 */
import { fileURLToPath } from 'node:url';

export const MAIN_JS = fileURLToPath(new URL('../cli/main.js', import.meta.url));
