/**
 * The npm package's name and version, which the About dialog shows. The Python package reads its own
 * version from the same package.json, so there is one version number.
 */

// The bundler resolves this at build time; no node typings are needed for one call.
declare const require: (id: string) => unknown;
const data = require('../package.json') as { version: string };

export const MODULE_VERSION: string = data.version;
