// Driven by scripts/chart-test (which installs playwright-core into target/npm and starts the
// server): opens /chart in headless Chromium with every request outside the server under test
// aborted and recorded, and checks what the page draws and says.
//
// Environment: TOKENMIRROR_URL, TM_NPM_DIR, CHROMIUM, OUT (screenshots), TOKEN (a synced
// NETWORK:ADDRESS), NO_DATA (a tracked NETWORK:ADDRESS with no rows).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.env.TOKENMIRROR_URL.replace(/\/+$/, '');
const origin = new URL(base).origin;
const out = process.env.OUT;
const { chromium } = createRequire(join(process.env.TM_NPM_DIR, 'package.json'))('playwright-core');

const passed = [];
const ok = (what) => { passed.push(what); console.log(`    ok   ${what}`); };
class CheckFailed extends Error {}
const fail = (what) => { throw new CheckFailed(what); };
const outside = [];
const problems = [];

const state = (page) => page.evaluate(() => ({ ...window.tokenmirrorChart }));
async function until(page, what, test, ms = 30_000) {
  const deadline = Date.now() + ms;
  let s;
  while (Date.now() < deadline) {
    s = await state(page);
    if (test(s)) return s;
    await page.waitForTimeout(100);
  }
  fail(`${what} (after ${ms / 1000} s the page's state is ${JSON.stringify(s)})`);
}

function watch(page, label) {
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== new URL(origin).host) outside.push(`${label}: websocket ${ws.url()}`);
  });
  page.on('pageerror', (err) => problems.push(`${label}: uncaught error: ${err.message}`));
}

let context;
let userDataDir;
let exitCode = 0;
try {
  userDataDir = mkdtempSync(join(tmpdir(), 'tokenmirror-chart-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    serviceWorkers: 'block',
    viewport: { width: 1200, height: 700 },
  });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    outside.push(`${route.request().method()} ${url}`);
    return route.abort('blockedbyclient');
  });

  // 1. A synced token: the chart draws, and its last bar moves with the sync.
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page, 'chart');
  // Every WebSocket goes through this route, so that the test can drop one.
  let sockets = [];
  await page.routeWebSocket(/\/graphql$/, (ws) => {
    const server = ws.connectToServer();
    sockets.push({ ws, server });
  });
  const token = process.env.TOKEN;
  await page.goto(`${base}/chart?token=${token}&interval=1h`, { waitUntil: 'load' });
  if ((await page.title()) !== 'tokenmirror chart') fail(`the title is '${await page.title()}'`);
  let s = await until(page, 'the chart shows bars', (st) => st.bars > 0);
  const canvases = await page.locator('#chart canvas').count();
  if (canvases === 0) fail('no canvas in #chart');
  ok(`/chart?token=${token}: ${s.bars} bars drawn on ${canvases} canvases, last close ${s.last.close}`);
  await page.screenshot({ path: join(out, 'chart.png') });
  ok(`screenshot: ${join(out, 'chart.png')}`);
  const before = s.last;
  s = await until(page, 'the last bar is updated by the sync', (st) => st.updates > 0 &&
    (st.last.periodStartUnix !== before.periodStartUnix || st.last.close !== before.close), 60_000);
  ok(`a sync write moved the last bar: ${before.periodStartUnix}/${before.close} -> ${s.last.periodStartUnix}/${s.last.close} (${s.updates} pushes)`);
  await page.screenshot({ path: join(out, 'chart-live.png') });
  ok(`screenshot: ${join(out, 'chart-live.png')}`);

  // 2. A dropped WebSocket: the page says so, reconnects, and goes on.
  if (sockets.length === 0) fail('the page opened no WebSocket');
  for (const { ws, server } of sockets) { ws.close({ code: 1006 }); server.close(); }
  sockets = [];
  s = await until(page, 'the page reports the lost connection', (st) => /connection/.test(st.message));
  await page.screenshot({ path: join(out, 'chart-reconnecting.png') });
  ok(`dropped WebSocket -> message '${s.message}'; screenshot: ${join(out, 'chart-reconnecting.png')}`);
  s = await until(page, 'the page reconnects', (st) => st.status === 'live' && !/connection/.test(st.message));
  const updates = s.updates;
  await until(page, 'pushes arrive again after reconnecting', (st) => st.updates > updates, 60_000);
  ok('the page reconnected by itself and receives pushes again');

  // 3. A token with no data, and a bad interval: a clear message each.
  const empty = await context.newPage();
  watch(empty, 'no data');
  await empty.goto(`${base}/chart?token=${process.env.NO_DATA}&interval=1h`, { waitUntil: 'load' });
  s = await until(empty, 'the no-data message', (st) => /no candles/.test(st.message));
  await empty.screenshot({ path: join(out, 'chart-no-data.png') });
  ok(`a token with no data -> '${s.message}'; screenshot: ${join(out, 'chart-no-data.png')}`);
  const bad = await context.newPage();
  watch(bad, 'bad interval');
  await bad.goto(`${base}/chart?token=${token}&interval=5m`, { waitUntil: 'load' });
  s = await until(bad, 'the bad-interval message', (st) => /not an interval/.test(st.message));
  await bad.screenshot({ path: join(out, 'chart-bad-interval.png') });
  ok(`interval=5m -> '${s.message}'; screenshot: ${join(out, 'chart-bad-interval.png')}`);

  if (outside.length) fail(`the page tried to reach ${outside.length} outside address(es):\n      ${outside.join('\n      ')}`);
  ok('no request left the server under test');
  if (problems.length) fail(`errors in the pages:\n      ${problems.join('\n      ')}`);
  ok('no uncaught error in the pages');
  console.log(`\nchart-test: ${passed.length} checks passed against ${base}`);
} catch (err) {
  exitCode = 1;
  if (outside.length) console.error(`\n    outside requests (aborted):\n      ${outside.join('\n      ')}`);
  console.error(`\nFAIL: ${err instanceof CheckFailed ? err.message : err.stack || err}`);
  console.error(`chart-test: ${passed.length} checks passed before the failure`);
} finally {
  if (context) await context.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(exitCode);
