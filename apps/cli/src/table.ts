import Table from 'cli-table3';

/** A compact table; header colours only when stdout is a terminal. */
export function newTable(head: string[]): InstanceType<typeof Table> {
  const tty = Boolean(process.stdout.isTTY);
  return new Table({ head, style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [], compact: true } });
}
