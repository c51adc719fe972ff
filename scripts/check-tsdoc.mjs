// Checks that every export of every package's public entry point carries TSDoc.
// Usage: node scripts/check-tsdoc.mjs [package-dir ...]  (default: every packages/*)
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const dirs = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync('packages')
      .map((d) => join('packages', d))
      .filter((d) => existsSync(join(d, 'src/index.ts')));

let missing = 0;
for (const dir of dirs) {
  const entry = resolve(dir, 'src/index.ts');
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    customConditions: ['@lopt/source'],
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) continue;
  for (const exp of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
    const documented =
      symbol.getDocumentationComment(checker).length > 0 ||
      (symbol.declarations ?? []).some((d) => ts.getJSDocCommentsAndTags(d).length > 0) ||
      // A namespace re-export (`export * as x`) is documented by its module's @module comment.
      (symbol.flags & ts.SymbolFlags.ValueModule) !== 0;
    if (!documented) {
      missing++;
      console.error(`${dir}: export '${exp.name}' has no TSDoc`);
    }
  }
}
if (missing) {
  console.error(`${missing} export(s) without TSDoc`);
  process.exit(1);
}
console.log(`tsdoc: every export of ${dirs.length} package(s) is documented`);
