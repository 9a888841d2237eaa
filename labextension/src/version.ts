/**
 * The npm package's name and version: the widget module name and version that the Python models carry
 * in `_model_module` / `_model_module_version`, and the version the About dialog shows. The Python
 * package reads its own version from the same package.json, so there is one version number.
 */

// The bundler resolves this at build time; no node typings are needed for one call.
declare const require: (id: string) => unknown;
const data = require('../package.json') as { name: string; version: string };

export const MODULE_NAME: string = data.name;
export const MODULE_VERSION: string = data.version;
