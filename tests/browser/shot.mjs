// shot.mjs - a developer helper, not a test: screenshot one page of a
// running node. usage: node shot.mjs URL HASH OUT.png [phone] [dark] [top]
import { launch, newPage, visit } from './lib.mjs';
const [base, hash, out, ...flags] = process.argv.slice(2);
const browser = await launch();
const p = await newPage(browser, { phone: flags.includes('phone'), theme: flags.includes('dark') ? 'dark' : 'light' });
await visit(p.page, base, hash);
await p.page.screenshot({ path: out, fullPage: !flags.includes('top') });
console.log(p.problems.join('\n') || 'no problems');
await browser.close();
