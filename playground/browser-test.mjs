// The playground in a real browser: headless Chromium loads /playground from a
// running Tally (it starts nothing itself; .ci/browser-test does), stores a
// token, opens an example, runs it and finds its result in the result pane.
//
// Every request that does not go to 127.0.0.1 is aborted and counted, so a
// pass also proves that the page works without internet access.
//
// Environment: TALLY_URL (e.g. http://127.0.0.1:8080), TALLY_TOKEN (an admin
// token), and optionally CHROMIUM (default /usr/bin/chromium), EXAMPLE and
// EXPECT (the example to run and a text its result must show; default
// `project` and `Galaxy formation simulations`), SCREENSHOT (a PNG path).
import { chromium } from 'playwright-core';

const base = process.env.TALLY_URL;
const token = process.env.TALLY_TOKEN;
const example = process.env.EXAMPLE || 'project';
const expected = process.env.EXPECT || 'Galaxy formation simulations';
const timeout = 30_000;
if (!base || !token) {
  console.error('browser-test: set TALLY_URL and TALLY_TOKEN');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok - ${name}`);
  } else {
    failed += 1;
    console.log(`not ok - ${name}${detail ? `: ${detail}` : ''}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const context = await browser.newContext();
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') {
      return route.continue();
    }
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.setDefaultTimeout(timeout);

  // First visit: GraphiQL from Tally itself, one tab per example.
  const response = await page.goto(`${base}/playground`);
  check('GET /playground answers 200', response && response.status() === 200);
  await page.waitForSelector('.graphiql-container');
  check('GraphiQL renders', true);
  check(
    'no CDN notice (the assets are installed)',
    (await page.locator('#tally-cdn-notice').count()) === 0,
  );
  const examples = JSON.parse(await page.locator('#tally-examples').textContent());
  const tabs = await page.locator('.graphiql-tab').count();
  check(
    `the examples open as tabs (${examples.length})`,
    tabs === examples.length,
    `${tabs} tabs`,
  );

  // The token bar keeps the token in localStorage.
  await page.fill('#tally-token', token);
  await page.click('#tally-token-save');
  const stored = await page.evaluate(() => window.localStorage.getItem('tally.playground.token'));
  check('the token is stored in localStorage', stored === token);

  // An example by its link (a new page load: the token comes from storage).
  await page.goto(`${base}/playground?example=${encodeURIComponent(example)}`);
  await page.waitForSelector('.graphiql-container');
  check(
    'the token survives a reload',
    (await page.inputValue('#tally-token')) === token,
  );
  const source = examples.find((e) => e.name === example);
  check(`example ${example} exists`, Boolean(source));
  const firstLine = source ? source.query.split('\n').find((l) => l.startsWith('query')) : '';
  await page
    .locator('.graphiql-query-editor')
    .filter({ hasText: firstLine.slice(0, 20) })
    .waitFor();
  check(`the ${example} example is in the editor`, true);

  await page.click('.graphiql-execute-button');
  const result = page.locator('.graphiql-response');
  let text = '';
  try {
    await result.filter({ hasText: expected }).waitFor();
    text = await result.innerText();
  } catch (error) {
    text = (await result.innerText().catch(() => '')) || String(error);
  }
  check(`the result pane shows ${JSON.stringify(expected)}`, text.includes(expected), text);
  check('the result has no errors', !text.includes('"errors"'), text);

  if (process.env.SCREENSHOT) {
    await page.screenshot({ path: process.env.SCREENSHOT });
  }
  check(
    'no request left 127.0.0.1',
    blocked.length === 0,
    blocked.join(', '),
  );
  check('no script error or CSP violation', problems.length === 0, problems.join(' | '));
} catch (error) {
  check('the browser test ran to the end', false, error.stack || String(error));
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
