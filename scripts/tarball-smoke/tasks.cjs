// @lopt/tasks from its tarball: the seed task's loss at initialisation is about ln(10),
// and its gradient has the parameters' structure.
module.exports = async function smoke({ pytree, tasks }, check) {
  const task = await tasks.imageMlp.ImageMLP_FashionMnist8_Relu32({ download: false });
  const params = task.init(pytree.random.PRNGKey(0));
  const batch = task.datasets.train.next().value;
  const [loss, grads] = pytree.valueAndGrad(task.loss)(params, pytree.random.PRNGKey(1), batch);
  const l = loss.dataSync()[0];
  check('initial loss near ln 10', Math.abs(l - Math.log(10)) < 0.3 ? 1 : 0, 1);
  check('grad shape', grads['mlp/~/linear_0'].w.shape.join('x') === '64x32' ? 1 : 0, 1);
};
