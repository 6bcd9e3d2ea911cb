// Opens a socktrace HTML report in headless Chromium (Debian's, driven by
// playwright-core), records every request the page makes, takes a
// screenshot, and prints what rendered as one JSON line: the title, the
// texts of the service map's SVG nodes, the connection table's row count,
// the requests other than the report itself, and the script errors of the
// page and of a click on every column header (the table sorts itself).
// Usage: node html-check.js NODE_PREFIX REPORT.html SHOT.png
'use strict';
const path = require('path');
const { chromium } = require(path.join(path.resolve(process.argv[2]), 'node_modules/playwright-core'));
const report = 'file://' + path.resolve(process.argv[3]);

(async () => {
	const browser = await chromium.launch({
		executablePath: '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		       '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
	const requests = [];
	page.on('request', (r) => { if (r.url() !== report) requests.push(r.url()); });
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e.message)));
	const dialogs = [];
	page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
	await page.goto(report, { waitUntil: 'load' });
	await page.screenshot({ path: process.argv[4], fullPage: false });
	for (const th of await page.$$('#connections th'))
		await th.click();
	const seen = await page.evaluate(() => ({
		title: document.title,
		mapNodes: Array.from(document.querySelectorAll('#map svg g.node text')).map((t) => t.textContent),
		rows: document.querySelectorAll('#connections tbody tr').length,
		bars: document.querySelectorAll('#timeline rect.bar').length,
		scripts: document.querySelectorAll('script').length,
	}));
	seen.requests = requests;
	seen.dialogs = dialogs;
	seen.errors = errors;
	console.log(JSON.stringify(seen));
	await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
