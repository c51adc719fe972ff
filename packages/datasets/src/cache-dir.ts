/**
 * The cache root datasets are looked up in and downloaded to, in Node: `$LOPT_DATA_DIR`
 * when set, else the platform's cache folder plus `lopt` (`$XDG_CACHE_HOME/lopt` or
 * `~/.cache/lopt` on Linux, `~/Library/Caches/lopt` on macOS, `%LOCALAPPDATA%\lopt\Cache`
 * on Windows). Each dataset lives in a folder of that root: `<root>/fashion-mnist/`,
 * `<root>/mnist/`. `undefined` outside Node or when no home folder is known.
 */
export function defaultCacheRoot(): string | undefined {
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  const env = process.env;
  if (env.LOPT_DATA_DIR) return env.LOPT_DATA_DIR;
  const home = env.HOME ?? env.USERPROFILE;
  if (process.platform === 'win32') {
    const base = env.LOCALAPPDATA ?? (home ? `${home}\\AppData\\Local` : undefined);
    return base ? `${base}\\lopt\\Cache` : undefined;
  }
  if (process.platform === 'darwin') return home ? `${home}/Library/Caches/lopt` : undefined;
  if (env.XDG_CACHE_HOME) return `${env.XDG_CACHE_HOME}/lopt`;
  return home ? `${home}/.cache/lopt` : undefined;
}
