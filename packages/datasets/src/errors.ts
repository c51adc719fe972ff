/**
 * The error every loading, checking and batching problem raises: its message names the
 * file (when there is one) and what is wrong with it.
 */
export class DatasetError extends Error {
  /** The file (path or URL) the problem is about, when there is one. */
  readonly file: string | undefined;

  /**
   * @param message - What is wrong, already naming the file.
   * @param file - The file (path or URL) concerned, if any.
   * @param options - Standard `ErrorOptions`; `cause` keeps the underlying error.
   */
  constructor(message: string, file?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatasetError';
    this.file = file;
  }
}
