// @lopt/layers from its tarball: a tfjs-layers model trained by model.fit with
// asTfOptimizer(SGDM) takes the same steps as with tf.train.momentum, and a model saved
// with its optimizer loads back (through the LoptOptimizer registration) with its state.
module.exports = async function smoke({ tf, tfl, optimizers, layers }, check) {
  const xs = tf.tensor2d([[0], [1], [2], [3]]);
  const ys = tf.tensor2d([[1], [3], [5], [7]]);
  const train = async (optimizer) => {
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [1], units: 1, kernelInitializer: 'zeros' })],
    });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await model.fit(xs, ys, { epochs: 5, batchSize: 4, verbose: 0, shuffle: false });
    return model;
  };
  const ref = await train(tf.train.momentum(0.05, 0.9));
  const opt = layers.asTfOptimizer(new optimizers.SGDM(0.05, 0.9), { name: 'sgdm' });
  const model = await train(opt);
  check('kernel after 5 steps', model.getWeights()[0].dataSync()[0], ref.getWeights()[0].dataSync()[0]);
  check('bias after 5 steps', model.getWeights()[1].dataSync()[0], ref.getWeights()[1].dataSync()[0]);
  let saved;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  layers.registerOptimizer('sgdm', () => new optimizers.SGDM(0.05, 0.9));
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
  check('restored step count', loaded.optimizer.iterations, 5);
  await loaded.fit(xs, ys, { epochs: 1, batchSize: 4, verbose: 0 });
  await model.fit(xs, ys, { epochs: 1, batchSize: 4, verbose: 0 });
  check('resumed kernel', loaded.getWeights()[0].dataSync()[0], model.getWeights()[0].dataSync()[0]);
};
