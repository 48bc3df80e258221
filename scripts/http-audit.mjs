// The graphql-http server audit: prints every audit, exits 1 when a MUST fails.
import { createRequire } from 'node:module';

const require = createRequire(process.env.NODE_PATH + '/');
const { serverAudits } = require('graphql-http');

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url })) {
  results.push({ name: audit.name, ...(await audit.fn()) });
}
const mark = { ok: 'ok  ', warn: 'warn', error: 'FAIL' };
for (const r of results) {
  console.log(`${mark[r.status]} ${r.name}${r.status === 'ok' ? '' : ` — ${r.reason}`}`);
}
const count = (s) => results.filter((r) => r.status === s).length;
console.log(`\n${results.length} audits: ${count('ok')} pass, ${count('warn')} warnings (SHOULD/MAY), ${count('error')} errors (MUST)`);
process.exit(count('error') > 0 ? 1 : 0);
