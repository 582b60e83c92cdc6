/**
 * Child processes cannot import TypeScript on Node 20, so tests that need the
 * library in other processes transpile the few pure source files they need
 * (no koffi) into a temporary directory with TypeScript's own transpiler.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

const sourceDir = new URL('../src/', import.meta.url);

export function transpileForChildren(files: string[]): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbox-netns-test-'));
  for (const file of files) {
    const source = readFileSync(new URL(`${file}.ts`, sourceDir), 'utf8');
    const output = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(dir, `${file}.js`), output.outputText);
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
