/**
 * Child processes cannot import TypeScript on Node 20, so tests that need the
 * library in other processes transpile its sources with TypeScript's own
 * transpiler into a temporary directory. By default that directory is inside this
 * package, so the children resolve `koffi` from its node_modules.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const sourceDir = fileURLToPath(new URL('../src/', import.meta.url));
const packageDir = fileURLToPath(new URL('../', import.meta.url));

/** Transpiles `files` (default: every source file) and returns the output directory. */
export function transpileForChildren(files?: string[]): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(packageDir, '.test-build-'));
  const names =
    files ??
    readdirSync(sourceDir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -3));
  for (const file of names) {
    const source = readFileSync(join(sourceDir, `${file}.ts`), 'utf8');
    const output = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(dir, `${file}.js`), output.outputText);
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
