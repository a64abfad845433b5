// Runs the graphql-http GraphQL-over-HTTP audit suite against a live server:
//   node audit.mjs http://127.0.0.1:8000/graphql
// Prints every audit (id, requirement, status, name) and a summary; exits 1 when any MUST or
// SHOULD audit fails (MAY audits are reported only), 2 on a fatal error (server unreachable, ...).
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  results.push(await audit.fn()); // one at a time: readable server logs, no burst
}

const counts = {};
let failed = 0;
for (const result of results) {
  const level = result.name.split(' ', 1)[0]; // MUST, SHOULD or MAY
  const count = (counts[level] ??= { ok: 0, total: 0 });
  count.total += 1;
  if (result.status === 'ok') count.ok += 1;
  else if (level === 'MUST' || level === 'SHOULD') failed += 1;
  console.log(`${result.id}  ${result.status.padEnd(6)}  ${result.name}`);
  if (result.status !== 'ok') {
    let body = '';
    try {
      body = (await result.response.text()).slice(0, 300);
    } catch {
      body = '(body already read)';
    }
    console.log(`      reason: ${result.reason}`);
    console.log(`      response: ${result.response.status} ${result.response.headers.get('content-type')} ${body}`);
  }
}
console.log(
  Object.entries(counts)
    .map(([level, { ok, total }]) => `${level} ${ok}/${total} ok`)
    .join(', ')
);
process.exit(failed ? 1 : 0);
