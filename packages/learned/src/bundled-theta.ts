// The shape of a theta bundled into the package by scripts/bundle-lopt-theta.mjs: the
// generated modules hold data only and take their types from here.

/** One leaf of a bundled theta: where it sits in the tree, its shape, its float32 values (row-major). */
export interface BundledThetaLeaf {
  /** The leaf's path in the theta tree, e.g. `.nn[0].w`. */
  readonly path: string;
  /** Its shape. */
  readonly shape: readonly number[];
  /** Its values, row-major. */
  readonly values: readonly number[];
}

/** Where the bundled theta comes from: the recipe, the outer step reached, the meta-loss there. */
export interface BundledThetaProvenance {
  /** The recipe's name, also the theta's versioned name. */
  readonly name: string;
  /** The learned optimizer and the options the theta belongs to. */
  readonly learnedOptimizer: { readonly name: string; readonly options: Readonly<Record<string, unknown>> };
  /** The recipe file (relative to the repository), its SHA-256, its configuration fingerprint, its planned outer steps. */
  readonly recipe: {
    readonly name: string;
    readonly file: string;
    readonly sha256: string;
    readonly fingerprint: string;
    readonly outerSteps: number;
  };
  /** The outer step the theta was taken at (null when the source did not say). */
  readonly outerStep: number | null;
  /** The meta-loss of the last outer step before it (null without metrics). */
  readonly finalMetaLoss: number | null;
  /** The mean meta-loss of the last 25 outer steps before it (null without metrics). */
  readonly meanMetaLossLast25: number | null;
  /** The file the theta was read from: its name, format and SHA-256. */
  readonly source: { readonly file: string; readonly format: string; readonly sha256: string };
  /** SHA-256 of the theta's float32 values (little-endian, leaves in order). */
  readonly thetaSha256: string;
  /** How many numbers the theta holds. */
  readonly numbers: number;
  /** When the bundle was made (ISO 8601). */
  readonly date: string;
}
