import { clearDatasetCache, fashionMnistDatasets } from '@lopt/datasets';

/**
 * Loading Fashion-MNIST from disk (gunzip, IDX checks, SHA-256 of the unpacked bytes) and
 * resizing all 70000 images to 8x8, starting from an empty in-memory cache. The files are
 * found the usual way: `$LOPT_DATA_DIR/fashion-mnist/`, the platform cache, Debian's copy,
 * else a download (set `LOPT_DATA_DIR` so the timing does not include one).
 */
export default {
  name: 'Fashion-MNIST load + resize to 8x8',
  goal: '<= 3 s',
  goalSeconds: 3,
  run: async (): Promise<void> => {
    clearDatasetCache();
    const ds = await fashionMnistDatasets({ imageSize: [8, 8], batchSize: 128 });
    if (ds.splitSizes.train + ds.splitSizes.innerValid + ds.splitSizes.outerValid !== 60000) {
      throw new Error('Fashion-MNIST did not load 60000 training examples');
    }
  },
};
