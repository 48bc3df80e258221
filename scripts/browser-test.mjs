// Driven by scripts/browser-test (which installs playwright-core into target/npm and starts or
// finds the server). Opens GraphiQL in headless Chromium with every request outside the server
// under test aborted and recorded, runs a query through the UI and checks the answer.
//
// Environment: TOKENMIRROR_URL (required), TM_NPM_DIR (where playwright-core is installed),
// CHROMIUM, SCREENSHOT, ASSETS_DIR (src/http/assets, to compare the served bytes with),
// TOKENMIRROR_EXPECT_SYMBOL (default SIM).
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = (process.env.TOKENMIRROR_URL || '').replace(/\/+$/, '');
if (!base) {
  console.error('FAIL: TOKENMIRROR_URL is not set');
  process.exit(2);
}
const npmDir = process.env.TM_NPM_DIR || join(process.cwd(), 'target/npm');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const screenshot = process.env.SCREENSHOT || 'target/graphiql.png';
const assetsDir = process.env.ASSETS_DIR || 'src/http/assets';
const expectSymbol = process.env.TOKENMIRROR_EXPECT_SYMBOL || 'SIM';
const QUERY = '{ tokens { network address symbol } }';
const TITLE = 'tokenmirror GraphiQL';
const origin = new URL(base).origin;

const { chromium } = createRequire(join(npmDir, 'package.json'))('playwright-core');

const passed = [];
function ok(what) {
  passed.push(what);
  console.log(`    ok   ${what}`);
}
class CheckFailed extends Error {}
function fail(what) {
  throw new CheckFailed(what);
}
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const symbolRe = new RegExp(`"symbol":\\s*"[^"]*${escapeRe(expectSymbol)}`);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// 1. Every vendored file is served under /graphiql/, byte for byte, with a fitting type.
async function checkAssets() {
  const types = { '.js': /javascript/, '.css': /^text\/css/, '.svg': /^image\/svg\+xml/ };
  const files = readdirSync(assetsDir).filter((f) => Object.keys(types).some((e) => f.endsWith(e)));
  if (files.length === 0) fail(`no assets found in ${assetsDir}`);
  for (const file of files.sort()) {
    const url = `${base}/graphiql/${file}`;
    const res = await fetch(url);
    if (res.status !== 200) fail(`GET /graphiql/${file} answered ${res.status}`);
    const type = res.headers.get('content-type') || '';
    const want = types[Object.keys(types).find((e) => file.endsWith(e))];
    if (!want.test(type)) fail(`GET /graphiql/${file}: content-type '${type}' does not match ${want}`);
    const body = Buffer.from(await res.arrayBuffer());
    const local = readFileSync(join(assetsDir, file));
    if (sha256(body) !== sha256(local)) {
      fail(`GET /graphiql/${file} serves ${body.length} bytes that differ from ${assetsDir}/${file} (${local.length} bytes)`);
    }
    ok(`GET /graphiql/${file}: 200, ${type}, ${body.length} bytes identical to ${assetsDir}/${file}`);
  }
}

// Requests seen by the browser, and everything that went wrong.
const outside = [];
const local = [];
const problems = [];

function watch(page, label) {
  page.on('request', (req) => {
    if (new URL(req.url()).origin === origin) local.push(`${label}: ${req.method()} ${req.url().slice(origin.length)}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`${label}: ${res.request().method()} ${res.url()} answered ${res.status()}`);
  });
  page.on('requestfailed', (req) => {
    if (new URL(req.url()).origin === origin) problems.push(`${label}: ${req.method()} ${req.url()} failed: ${req.failure()?.errorText}`);
  });
  page.on('websocket', (ws) => {
    // Subscriptions open a WebSocket to /graphql on the server under test; any other is outside.
    if (new URL(ws.url()).host === new URL(origin).host) local.push(`${label}: websocket ${ws.url()}`);
    else outside.push(`${label}: websocket ${ws.url()}`);
  });
  page.on('pageerror', (err) => problems.push(`${label}: uncaught error in the page: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${label}: console error: ${msg.text()}`);
  });
}

// Waits for the introspection request GraphiQL makes on load and checks its answer.
function introspectionAnswer(page) {
  return page
    .waitForResponse(
      (res) =>
        res.url() === `${origin}/graphql` &&
        res.request().method() === 'POST' &&
        /IntrospectionQuery/.test(res.request().postData() || ''),
      { timeout: 30_000 },
    )
    .then(async (res) => {
      const status = res.status();
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        fail(`the introspection query answered ${status} with no JSON: ${text.slice(0, 200)}`);
      }
      if (!json?.data?.__schema) fail(`the introspection query answered ${status} without data.__schema: ${text.slice(0, 300)}`);
      if (json.errors) fail(`the introspection query answered errors: ${JSON.stringify(json.errors).slice(0, 300)}`);
      return `${status}, ${json.data.__schema.types.length} types`;
    });
}

async function openGraphiQL(page, path, label) {
  const introspection = introspectionAnswer(page);
  const res = await page.goto(`${base}${path}`, { waitUntil: 'load' });
  if (!res) fail(`${label}: no response`);
  const type = res.headers()['content-type'] || '';
  if (res.status() !== 200 || !/^text\/html/.test(type)) {
    fail(`${label}: GET ${path} (Accept: ${res.request().headers().accept}) answered ${res.status()} ${type}`);
  }
  ok(`${label}: GET ${path} with Accept: ${res.request().headers().accept} -> 200 ${type}`);
  const title = await page.title();
  if (title !== TITLE) fail(`${label}: title is '${title}', not '${TITLE}'`);
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: 30_000 });
  ok(`${label}: title '${title}', GraphiQL rendered (.graphiql-container, query editor)`);
  ok(`${label}: introspection query on load -> ${await introspection}`);
}

const editorValue = (page, selector) =>
  page.evaluate((sel) => document.querySelector(sel)?.CodeMirror?.getValue() ?? null, selector);

async function setQuery(page, label) {
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(QUERY);
  let value = await editorValue(page, '.graphiql-query-editor .CodeMirror');
  if (value !== QUERY) {
    // Typed input may meet auto-closed brackets: set the text through CodeMirror instead.
    await page.evaluate((q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q), QUERY);
    value = await editorValue(page, '.graphiql-query-editor .CodeMirror');
    if (value !== QUERY) fail(`${label}: could not put the query in the editor (it holds ${JSON.stringify(value)})`);
    ok(`${label}: query set through CodeMirror: ${QUERY}`);
  } else {
    ok(`${label}: query typed into the editor: ${QUERY}`);
  }
}

// Runs a subscription in GraphiQL (over its WebSocket) and waits for a pushed candle in the
// result pane.
async function runSubscription(page, label) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ tokens { address } }' }),
  });
  const address = (await res.json())?.data?.tokens?.[0]?.address;
  if (!address) fail(`${label}: no token to subscribe to`);
  const sub = `subscription { tokenCandles(address: "${address}", interval: "1h") { periodStart open close } }`;
  await page.evaluate((q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q), sub);
  const socket = page.waitForEvent('websocket', { timeout: 30_000 });
  await page.locator('button.graphiql-execute-button').click();
  const ws = await socket;
  let shown = '';
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    shown = (await editorValue(page, '.result-window .CodeMirror')) || '';
    if (shown.includes('"tokenCandles"') && shown.includes('"close"')) break;
    await page.waitForTimeout(200);
  }
  if (!shown.includes('"tokenCandles"') || !shown.includes('"close"')) {
    fail(`${label}: the subscription's result pane shows no candle: ${shown.slice(0, 400)}`);
  }
  ok(`${label}: subscription over ${ws.url()} -> the result pane shows a pushed candle: ${shown.replace(/\s+/g, ' ').slice(0, 160)}`);
}

async function runAndCheck(page, label, how) {
  const answer = page.waitForResponse(
    (res) =>
      res.url() === `${origin}/graphql` &&
      res.request().method() === 'POST' &&
      (res.request().postData() || '').includes('tokens'),
    { timeout: 30_000 },
  );
  if (how === 'button') {
    await page.locator('button.graphiql-execute-button').click();
  } else {
    await page.locator('.graphiql-query-editor .CodeMirror').click();
    await page.keyboard.press('ControlOrMeta+Enter');
  }
  const res = await answer;
  if (res.status() !== 200) fail(`${label}: POST /graphql answered ${res.status()}: ${(await res.text()).slice(0, 300)}`);
  let shown = '';
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    shown = (await editorValue(page, '.result-window .CodeMirror')) || '';
    if (shown.includes('"tokens"') && symbolRe.test(shown)) break;
    await page.waitForTimeout(200);
  }
  if (!shown.includes('"tokens"') || !symbolRe.test(shown)) {
    fail(`${label}: the result pane does not show "tokens" with a symbol containing ${expectSymbol}: ${shown.slice(0, 400)}`);
  }
  const symbols = [...shown.matchAll(/"symbol":\s*"([^"]*)"/g)].map((m) => m[1]);
  ok(`${label}: run via ${how === 'button' ? 'the run button' : 'Ctrl-Enter'} -> POST /graphql 200; the result pane shows "tokens" with symbols ${symbols.join(', ')}`);
}

let context;
let userDataDir;
let exitCode = 0;
try {
  await checkAssets();

  userDataDir = mkdtempSync(join(tmpdir(), 'tokenmirror-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    serviceWorkers: 'block',
    viewport: { width: 1400, height: 900 },
  });
  ok(`launched ${executablePath} headless with a fresh profile (${userDataDir})`);
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    outside.push(`${route.request().method()} ${url}`);
    return route.abort('blockedbyclient');
  });

  const page = context.pages()[0] ?? (await context.newPage());
  watch(page, '/');
  await openGraphiQL(page, '/', '/');
  const initial = await editorValue(page, '.graphiql-query-editor .CodeMirror');
  if (!initial || !/\btokens\b/.test(initial)) fail(`/: the default query does not mention tokens: ${JSON.stringify(initial)}`);
  ok('/: the editor starts with the default query (it lists tokens)');
  await setQuery(page, '/');
  await runAndCheck(page, '/', 'button');
  await page.screenshot({ path: screenshot });
  ok(`/: screenshot saved to ${screenshot}`);
  await runSubscription(page, '/');
  const subShot = screenshot.replace(/\.png$/, '-subscription.png');
  await page.screenshot({ path: subShot });
  ok(`/: screenshot of the subscription saved to ${subShot}`);
  // The run button stops a running subscription; the next page starts from the plain query.
  await page.locator('button.graphiql-execute-button').click();
  await page.evaluate((q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q), QUERY);

  const page2 = await context.newPage();
  watch(page2, '/graphql');
  await openGraphiQL(page2, '/graphql', '/graphql');
  await setQuery(page2, '/graphql');
  await runAndCheck(page2, '/graphql', 'keys');

  if (outside.length) fail(`the page tried to reach ${outside.length} outside address(es):\n      ${outside.join('\n      ')}`);
  ok('no request left the server under test (every other request would have been aborted and listed)');
  if (problems.length) fail(`errors while the pages ran:\n      ${problems.join('\n      ')}`);
  ok('no failed request, no HTTP error, no console error, no uncaught exception');
  console.log(`\n    requests the browser made (all to ${origin}):\n      ${[...new Set(local)].join('\n      ')}`);
  console.log(`\nbrowser-test: ${passed.length} checks passed against ${base}`);
} catch (err) {
  exitCode = 1;
  if (outside.length) console.error(`\n    outside requests seen (aborted):\n      ${outside.join('\n      ')}`);
  if (problems.length) console.error(`\n    problems seen:\n      ${problems.join('\n      ')}`);
  console.error(`\nFAIL: ${err instanceof CheckFailed ? err.message : err.stack || err}`);
  console.error(`browser-test: ${passed.length} checks passed before the failure`);
} finally {
  if (context) await context.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(exitCode);
