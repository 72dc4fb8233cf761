// The sandbox's pages in Chromium: the API reference at /docs (with "try
// it"), the control plane's reference, the console, and the standalone
// reference opened from disk. `cargo xtask browser` (and `cargo xtask ci`)
// runs this with `node --test` against a release sandbox it starts, and
// passes everything below in the environment.
//
// Every page is watched: a request to any host but 127.0.0.1, a script
// error, an error on the console (a CSP violation or a failed load shows
// there) or a dialog (an injected `alert`) fails the test it happens in.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests with \`cargo xtask browser\``);
  }
  return value;
}

const require = createRequire(path.join(env('NODE_MODULES'), 'package.json'));
const { chromium } = require('playwright-core');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const SANDBOX = env('SANDBOX_URL');
const TOKEN = env('CONTROL_TOKEN');
const CLI = env('ALPHAMOON_CLI');
const SCREENSHOTS = env('SCREENSHOTS');
const VENDOR_SPEC = JSON.parse(readFileSync(env('VENDOR_SPEC'), 'utf8'));
const CONTROL_SPEC = JSON.parse(readFileSync(env('CONTROL_SPEC'), 'utf8'));

// The field notes' flags for Chromium as root in a container, without
// the background traffic it would send to outside hosts.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// What the pages must show within this long of a change.
const LIVE_MS = 2000;

const operationIds = (spec) =>
  Object.values(spec.paths).flatMap((item) =>
    Object.values(item).map((operation) => operation.operationId).filter(Boolean));

const SCOPES = VENDOR_SPEC.components.schemas.Scope.enum;

let browser;

before(async () => {
  // Playwright gives each launch a fresh profile directory of its own.
  browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
});

// A page in a fresh context, with everything it does watched. `local`
// says which URLs it may load besides http://127.0.0.1.
async function open(url, { local = () => false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if ((target.protocol === 'http:' && target.hostname === '127.0.0.1') || local(target)) {
      return route.continue();
    }
    problems.push(`a request to another host: ${target.href}`);
    return route.abort('blockedbyclient');
  });
  page.on('pageerror', (error) => problems.push(`a script error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push(`an error on the console: ${message.text()}`);
    }
  });
  page.on('dialog', (dialog) => {
    problems.push(`a dialog opened, so injected script ran: ${dialog.message()}`);
    return dialog.dismiss();
  });
  await page.goto(url);
  const close = () => context.close();
  const done = async () => {
    // Give a late error a moment to arrive before the verdict.
    await page.waitForTimeout(200);
    await close();
    assert.deepEqual(problems, [], 'the page stayed on 127.0.0.1 and ran without errors');
  };
  return { page, problems, done, close };
}

// Waits until `check` returns something truthy, up to `ms`.
async function within(ms, what, check) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) {
        return last;
      }
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) {
      assert.fail(`${what} did not happen within ${ms} ms (last: ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function noSeriousAccessibilityViolation(page, name) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(violations, [], `axe-core finds no serious or critical violation on ${name}`);
}

// Opens every operation in "try it" mode and every schema, so that axe
// sees every control a reader can reach.
async function expandEverything(page) {
  for (const operation of await page.locator('.opblock').all()) {
    if (!(await operation.evaluate((node) => node.classList.contains('is-open')))) {
      await operation.locator('.opblock-summary-control').click();
    }
    const tryIt = operation.getByRole('button', { name: 'Try it out' });
    if (await tryIt.count()) {
      await tryIt.click();
    }
  }
  for (const model of await page.locator('.models .model-container').all()) {
    await model.locator('.model-box-control').first().click();
  }
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

// The control plane, as a test's own setup uses it.
async function control(method, route, body) {
  const response = await fetch(`${SANDBOX}/_sandbox/v1${route}`, {
    method,
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${route} answered ${response.status}`);
  return response.status === 204 ? null : response.json();
}

// The `alphamoon` CLI, which calls the API through the Rust client.
async function alphamoon(key, ...args) {
  try {
    const { stdout } = await promisify(execFile)(CLI, ['--output', 'json', ...args], {
      env: { PATH: process.env.PATH, ALPHAMOON_BASE_URL: SANDBOX, ALPHAMOON_API_KEY: key },
    });
    return { code: 0, json: JSON.parse(stdout) };
  } catch (error) {
    return { code: error.code, stderr: error.stderr };
  }
}

// One request as raw bytes, so that its path is exactly what we wrote.
function rawRequest(target) {
  const { hostname, port } = new URL(SANDBOX);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.end(`GET ${target} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    let answer = '';
    socket.on('data', (chunk) => { answer += chunk; });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('the watch on every page', () => {
  test('catches a script error, a dialog, and a request the page policy refuses', async () => {
    const { page, problems, close } = await open(`${SANDBOX}/docs`);
    await page.evaluate(() => fetch('http://192.0.2.1/').catch(() => {}));
    await page.evaluate(() => setTimeout(() => { throw new Error('planted error'); }));
    await page.evaluate(() => setTimeout(() => alert('planted alert')));
    for (const expected of [/192\.0\.2\.1.*violates the following Content Security Policy/, /script error: .*planted error/,
      /dialog opened.*planted alert/]) {
      await within(LIVE_MS, `a problem matching ${expected}`, () => problems.some((p) => expected.test(p)));
    }
    await close();
  });

  test('catches a request to another host from a page without a policy', async () => {
    // The standalone file has no Content-Security-Policy, so only the
    // watch stands between it and the network.
    const file = pathToFileURL(env('STANDALONE_REFERENCE')).href;
    const { page, problems, close } = await open(file, { local: (url) => url.href === file });
    await page.evaluate(() => fetch('http://192.0.2.1/planted').catch(() => {}));
    await within(LIVE_MS, 'the request refused', () =>
      problems.some((p) => p === 'a request to another host: http://192.0.2.1/planted'));
    await close();
  });
});

describe('the API reference at /docs', () => {
  test('shows the three operations and the 28 scopes, and tries a call with a pasted key', async () => {
    await control('POST', '/reset');
    const org = await control('POST', '/orgs', { name: 'Reference readers' });
    const { page, done } = await open(`${SANDBOX}/docs`);

    await page.locator('.opblock').first().waitFor();
    assert.equal(await page.locator('.opblock').count(), 3);
    const shown = await page.locator('.opblock-summary-operation-id').allTextContents();
    assert.deepEqual(shown.sort(), operationIds(VENDOR_SPEC).sort());

    const scope = page.locator('#model-Scope');
    await scope.locator('.model-box-control').first().click();
    await scope.getByText(`Array [ ${SCOPES.length} ]`).click();
    const listed = await scope.innerText();
    assert.equal(SCOPES.length, 28);
    for (const name of SCOPES) {
      assert.ok(listed.includes(name), `the scope ${name} is shown`);
    }

    // "Try it", with the key pasted into the Basic auth dialog.
    await page.getByRole('button', { name: 'Authorize' }).first().click();
    const dialog = page.locator('.modal-ux');
    await dialog.locator('#auth-basic-username').fill(org.adminKey);
    await dialog.getByRole('button', { name: 'Apply credentials' }).click();
    await dialog.getByRole('button', { name: 'Close' }).first().click();
    const list = page.locator('#operations-api-keys-listApiKeys');
    await list.locator('.opblock-summary-control').click();
    await list.getByRole('button', { name: 'Try it out' }).click();
    const answered = page.waitForResponse((r) => r.url().startsWith(`${SANDBOX}/api/v0.4/admin/api-keys`));
    await list.getByRole('button', { name: 'Execute' }).click();
    assert.equal((await answered).status(), 200);
    const status = list.locator('.live-responses-table tbody .response-col_status').first();
    await within(LIVE_MS, 'the 200 is shown', async () => (await status.innerText()).trim() === '200');
    // The answer is this organization's own list, from this sandbox.
    assert.ok((await list.locator('.live-responses-table').innerText()).includes(org.orgId));

    await screenshot(page, 'docs');
    await expandEverything(page);
    await noSeriousAccessibilityViolation(page, '/docs');
    await done();
  });
});

describe('the control plane reference at /_sandbox/docs', () => {
  test('shows every control operation', async () => {
    const { page, done } = await open(`${SANDBOX}/_sandbox/docs`);
    await page.locator('.opblock').first().waitFor();
    const shown = await page.locator('.opblock-summary-operation-id').allTextContents();
    assert.deepEqual(shown.sort(), operationIds(CONTROL_SPEC).sort());
    await screenshot(page, 'control-docs');
    await expandEverything(page);
    await noSeriousAccessibilityViolation(page, '/_sandbox/docs');
    await done();
  });
});

describe('the standalone reference', () => {
  test('opens from disk with no server and no network', async () => {
    const file = pathToFileURL(env('STANDALONE_REFERENCE')).href;
    const { page, done } = await open(file, { local: (url) => url.href === file });
    await page.locator('.opblock').first().waitFor();
    const shown = await page.locator('.opblock-summary-operation-id').allTextContents();
    assert.deepEqual(shown.sort(), operationIds(VENDOR_SPEC).sort());
    await screenshot(page, 'standalone');
    await done();
  });
});

describe('the console at /_sandbox/console', () => {
  const hostile = '<img src=x onerror=alert(1)>';
  let page;
  let done;
  let admin;

  const orgs = () => page.locator('#orgs');
  const journalRows = () => page.locator('#journal tbody tr');
  const keyRow = (id) => orgs().locator('tr', { hasText: id });

  before(async () => {
    await control('POST', '/reset');
    ({ page, done } = await open(`${SANDBOX}/_sandbox/console`));
  });

  after(async () => {
    await done();
  });

  test('takes the token from the keyboard and keeps it in session storage only', async () => {
    // The token field has the focus when the page opens.
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.getByText('Connected.').waitFor();
    const stored = await page.evaluate(() => ({
      session: Object.values(sessionStorage),
      local: Object.keys(localStorage).length,
      cookies: document.cookie,
    }));
    assert.deepEqual(stored, { session: [TOKEN], local: 0, cookies: '' });
    assert.ok(!(await page.content()).includes(TOKEN), 'the token is not in the page');
  });

  test('shows a key made with the Rust client, and its request, within 2 s', async () => {
    admin = await control('POST', '/orgs', { name: `Acme ${hostile}` });
    const made = await alphamoon(admin.adminKey, 'keys', 'create', '--name', hostile,
      '--scope', 'workspace.file:upload', '--expires-in', '1h');
    assert.equal(made.code, 0, made.stderr);
    const id = made.json.id;
    const row = await within(LIVE_MS, 'the key in the organization list', async () =>
      (await keyRow(id).count()) === 1 && keyRow(id));
    const cells = await row.locator('td').allInnerTexts();
    assert.deepEqual(cells.slice(0, 4), [hostile, id, 'workspace.file:upload', 'Active']);
    assert.ok(!cells.join(' ').includes('amk_'), 'no secret is shown');
    assert.equal(await orgs().locator('h3').first().innerText(), `Acme ${hostile}`);
    await within(LIVE_MS, 'the create in the journal', async () =>
      (await journalRows().filter({ hasText: 'createApiKey' }).filter({ hasText: '201' }).count()) === 1);
    assert.equal(await page.locator('main img, main script').count(), 0, 'the names stayed text');

    // A name that would show reversed, or pass for another, shows its
    // hidden characters instead.
    const reversed = await alphamoon(admin.adminKey, 'keys', 'create', '--name', '\u202egnp.exe',
      '--scope', 'workspace.file:upload');
    assert.equal(reversed.code, 0, reversed.stderr);
    await within(LIVE_MS, 'the name with its override shown', async () =>
      (await keyRow(reversed.json.id).locator('td').first().innerText()) === '⟨U+202E⟩gnp.exe');
  });

  test('shows a path that carries a <script> as text', async () => {
    const path = '/api/v0.4/admin/api-keys/%3Cscript%3Ealert(2)%3C/script%3E';
    const answer = await rawRequest(`${path}?name=%3Cscript%3Ealert(3)%3C/script%3E`);
    assert.match(answer, /^HTTP\/1\.1 40[45]/);
    const row = await within(LIVE_MS, 'the request in the journal', async () => {
      const found = journalRows().filter({ hasText: '<script>alert(2)</script>' });
      return (await found.count()) === 1 && found;
    });
    assert.ok((await row.innerText()).includes('?name=<script>alert(3)</script>'));
    assert.equal(await page.locator('main script, main img').count(), 0, 'the path stayed text');
  });

  test('filters the journal', async () => {
    const filter = page.getByLabel('Filter');
    await filter.fill('createApiKey');
    await within(LIVE_MS, 'only the creates are left', async () => {
      const rows = await journalRows().allInnerTexts();
      return rows.length === 2 && rows.every((text) => text.includes('createApiKey'));
    });
    await filter.fill('');
    await within(LIVE_MS, 'every request is back', async () => (await journalRows().count()) >= 2);
  });

  test('adds a fault that the next request meets, and deletes it', async () => {
    await page.getByLabel('Operation').selectOption('listApiKeys');
    await page.getByLabel('Action').selectOption('respond');
    await page.getByLabel('Status').fill('503');
    await page.getByRole('button', { name: 'Add fault' }).click();
    const faultRow = page.locator('#faults tbody tr');
    await within(LIVE_MS, 'the fault in the list', async () => (await faultRow.count()) === 1);
    const faultId = (await faultRow.locator('td').first().innerText()).trim();

    const listed = await alphamoon(admin.adminKey, 'keys', 'list');
    assert.equal(listed.code, 1, 'the CLI meets the fault');
    assert.match(listed.stderr, /503/);
    await within(LIVE_MS, 'the faulted request in the journal', async () =>
      (await journalRows().filter({ hasText: 'listApiKeys' }).filter({ hasText: faultId })
        .filter({ hasText: '503' }).count()) >= 1);

    await page.getByRole('button', { name: `Delete fault ${faultId}` }).click();
    await within(LIVE_MS, 'the fault gone', async () => (await faultRow.count()) === 0);
    assert.equal((await alphamoon(admin.adminKey, 'keys', 'list')).code, 0);
  });

  test('advances the clock past a key\'s expiry', async () => {
    const expiring = orgs().locator('tr', { hasText: hostile });
    assert.equal(await expiring.locator('td').nth(3).innerText(), 'Active');
    await page.getByRole('button', { name: 'Freeze' }).click();
    await page.getByText('(frozen)').waitFor();
    await page.getByLabel('Advance by (seconds)').fill('7200');
    await page.getByRole('button', { name: 'Advance', exact: true }).click();
    await within(LIVE_MS, 'the key shown as expired', async () =>
      (await expiring.locator('td').nth(3).innerText()) === 'Expired');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByText('(running)').waitFor();

    await screenshot(page, 'console');
    await noSeriousAccessibilityViolation(page, '/_sandbox/console');
  });

  test('resets behind a confirmation, from the keyboard, and empties the page', async () => {
    await page.getByRole('button', { name: 'Reset the sandbox…' }).focus();
    await page.keyboard.press('Enter');
    // Nothing is reset until the question is answered.
    await page.waitForTimeout(300);
    assert.ok((await journalRows().count()) > 0);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'reset-yes');
    await page.keyboard.press('Enter');
    await within(LIVE_MS, 'an empty page', async () =>
      (await page.getByText('No organizations.').count()) === 1 &&
      (await orgs().locator('section').count()) === 0 &&
      (await journalRows().count()) === 0 &&
      (await page.locator('#faults tbody tr').count()) === 0);
  });
});
