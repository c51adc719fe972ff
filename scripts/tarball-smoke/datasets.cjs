// @lopt/datasets from its tarball: real Fashion-MNIST at 8x8, one batch of the right shape.
module.exports = async function smoke({ tf, datasets }, check) {
  const ds = await datasets.fashionMnistDatasets({ batchSize: 32, imageSize: [8, 8], download: false });
  check('train split size', ds.splitSizes.train, 48000);
  const batch = ds.train.next().value;
  check('image rank', batch.image.shape.join('x') === '32x8x8x1' ? 1 : 0, 1);
  check('label dtype int32', batch.label.dtype === 'int32' ? 1 : 0, 1);
  const max = tf.max(batch.image).dataSync()[0];
  check('pixels in [0, 1]', max <= 1 && max > 0 ? 1 : 0, 1);
  tf.dispose(batch);
};
