// WebSocket subscribers for scripts/chaos's soak: N connections (the npm graphql-ws client,
// protocol graphql-transport-ws), one `tokenCandles` subscription (interval 1h) each, tokens
// round robin. Runs until SIGTERM, then writes a JSON summary and exits 0.
//
//   node subscribers.mjs NPM_DIR HTTP_URL TOKENS(comma-separated) N SUMMARY.json
//
// Prints `ready N` once every subscription has had its first candle. The summary: connections,
// subscriptions with a first candle, pushes (in all and the fewest of one subscription), errors
// (GraphQL errors or errors of the socket), completed subscriptions and unexpectedly closed
// connections, each with up to 5 examples.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [npmDir, httpUrl, tokenList, nText, summaryFile] = process.argv.slice(2);
if (!summaryFile) {
  console.error('usage: node subscribers.mjs NPM_DIR HTTP_URL TOKENS N SUMMARY.json');
  process.exit(2);
}
const requireNpm = createRequire(join(npmDir, 'package.json'));
const { createClient } = requireNpm('graphql-ws');
const WebSocketImpl = globalThis.WebSocket ?? requireNpm('ws');

const tokens = tokenList.split(',').filter(Boolean);
const n = Number(nText);
const wsUrl = httpUrl.replace(/^http/, 'ws') + '/graphql';
const QUERY = 'subscription ($a: String!) { tokenCandles(address: $a, interval: "1h") { periodStartUnix open high low close volumeUSD hours } }';

const subs = [];
let disposing = false;
const examples = { errors: [], closed: [], completed: [] };
const note = (kind, what) => { if (examples[kind].length < 5) examples[kind].push(what); };

for (let i = 0; i < n; i++) {
  const sub = { token: tokens[i % tokens.length], pushes: 0, errors: 0, completed: false, closed: false, first: false };
  sub.client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocketImpl,
    lazy: true,
    retryAttempts: 0,
    shouldRetry: () => false,
    on: {
      closed: (event) => {
        if (!disposing) {
          sub.closed = true;
          note('closed', `#${i}: ${event?.code ?? '?'} ${event?.reason ?? ''}`.trim());
        }
      },
    },
  });
  sub.client.subscribe({ query: QUERY, variables: { a: sub.token } }, {
    next: (msg) => {
      if (msg.errors) {
        sub.errors++;
        note('errors', `#${i}: ${JSON.stringify(msg.errors).slice(0, 300)}`);
        return;
      }
      sub.pushes++;
      sub.first = true;
    },
    error: (err) => {
      if (disposing) return;
      sub.errors++;
      note('errors', `#${i}: ${String(err?.message ?? JSON.stringify(err)).slice(0, 300)}`);
    },
    complete: () => {
      if (disposing) return;
      sub.completed = true;
      note('completed', `#${i}`);
    },
  });
  subs.push(sub);
}

const ready = setInterval(() => {
  if (subs.every((s) => s.first)) {
    console.log(`ready ${subs.length}`);
    clearInterval(ready);
  }
}, 100);

function finish() {
  disposing = true;
  clearInterval(ready);
  const summary = {
    connections: subs.length,
    with_first_candle: subs.filter((s) => s.first).length,
    pushes: subs.reduce((a, s) => a + s.pushes, 0),
    fewest_pushes: Math.min(...subs.map((s) => s.pushes)),
    errors: subs.reduce((a, s) => a + s.errors, 0),
    completed: subs.filter((s) => s.completed).length,
    closed: subs.filter((s) => s.closed).length,
    examples,
  };
  writeFileSync(summaryFile, JSON.stringify(summary, null, 1));
  for (const s of subs) s.client.dispose();
  setTimeout(() => process.exit(0), 200);
}
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
