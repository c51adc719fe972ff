// Runs one package's smoke check with the modules it was given, on the default backend.
module.exports = async function harness(name, mode, smoke, mods) {
  const backend = await mods.pytree.setupBackend();
  const check = (what, got, want) => {
    if (!(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)))) {
      throw new Error(`@lopt/${name} (${mode}): ${what} = ${got}, expected ${want}`);
    }
  };
  await smoke(mods, check);
  console.log(`tarball: @lopt/${name} ${mode} ok on ${backend}`);
};
