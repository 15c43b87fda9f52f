// The runtime import graph of our TypeScript sources: which modules a root loads when it runs.
// Type-only imports and exports are erased by the compiler, so they are not edges; dynamic
// import() with a literal is, unless the walk asks for the static graph only (what a module
// loads whatever it then does). Bare specifiers (packages) are leaves and not followed.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import ts from "typescript";

function resolveModule(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const base = resolve(dirname(from), spec);
  for (const candidate of [
    base,
    `${base}.ts`,
    base.replace(/\.js$/, ".ts"),
    resolve(base, "index.ts"),
  ]) {
    if (existsSync(candidate) && statSync(candidate).isFile() && candidate.endsWith(".ts")) {
      return candidate;
    }
  }
  throw new Error(`${from}: cannot resolve ${spec}`);
}

/**
 * The specifiers a file loads at run time (not `import type`, not type-only specifiers); with
 * `dynamic: false`, not those of import() either.
 */
export function runtimeImports(file: string, opts: { dynamic?: boolean } = {}): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause?.isTypeOnly ||
        (clause !== undefined &&
          clause.name === undefined &&
          clause.namedBindings !== undefined &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.length > 0 &&
          clause.namedBindings.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const typeOnly =
        node.isTypeOnly ||
        (node.exportClause !== undefined &&
          ts.isNamedExports(node.exportClause) &&
          node.exportClause.elements.length > 0 &&
          node.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      opts.dynamic !== false &&
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs;
}

/**
 * Every module reachable from `roots` at run time, each with the chain of imports that first
 * reached it (root first); `dynamic: false` follows static imports only.
 */
export function reachableFrom(
  roots: string[],
  opts: { dynamic?: boolean } = {},
): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue: string[] = [];
  for (const r of roots) {
    const abs = resolve(r);
    seen.set(abs, [abs]);
    queue.push(abs);
  }
  while (queue.length > 0) {
    const file = queue.shift() as string;
    const chain = seen.get(file) as string[];
    for (const spec of runtimeImports(file, opts)) {
      const target = resolveModule(file, spec);
      if (target && !seen.has(target)) {
        seen.set(target, [...chain, target]);
        queue.push(target);
      }
    }
  }
  return seen;
}
