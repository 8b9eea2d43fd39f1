// test_format.mjs - the UI's price and size arithmetic (web/src/format.js),
// run in node: prices are decimal strings of up to 78 digits in the token's
// smallest unit (18 decimals) and must convert exactly both ways.
import { check, run } from './lib.mjs';
import { formatBytes, formatPrice, isFree, tokensToUnits, unitsToTokens } from '../../web/src/format.js';

run('browser.format', async () => {
  const MAX = '115792089237316195423570985008687907853269984665640564039457584007913129639935'; // 2^256-1
  const cases = [
    ['0', 'Free'], ['000', 'Free'], ['1', '0.000000000000000001 AGR'], ['5000000000000000000', '5 AGR'],
    ['2500000000000000000', '2.5 AGR'], ['1234567000000000000000000', '1,234,567 AGR'],
    [MAX, '115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.584007913129639935 AGR'],
  ];
  for (const [units, text] of cases) check(formatPrice(units) === text, `formatPrice(${units}) = ${formatPrice(units)}`);
  check(isFree('0') && isFree('') && !isFree('1'), 'isFree');
  const back = [['0', '0'], ['2', '2000000000000000000'], ['0.5', '500000000000000000'], ['1.000000000000000001', '1000000000000000001'],
    ['007', '7000000000000000000'], [' 3 ', '3000000000000000000']];
  for (const [tokens, units] of back) check(tokensToUnits(tokens) === units, `tokensToUnits(${tokens}) = ${tokensToUnits(tokens)}`);
  for (const bad of ['', 'ten', '-1', '1e18', '0.0000000000000000001', '1,5', '1.', '.5', '1 000']) {
    check(tokensToUnits(bad) === null, `tokensToUnits(${JSON.stringify(bad)}) refused`);
  }
  for (const units of ['0', '1', '2500000000000000000', '1000000000000000001', '123456789012345678901234567890']) {
    check(tokensToUnits(unitsToTokens(units)) === units, `round trip ${units}`);
  }
  check(formatBytes(0) === '0 B' && formatBytes(1023) === '1023 B' && formatBytes(1536) === '1.5 KB', 'small sizes');
  check(formatBytes(118652237) === '113 MB' && formatBytes(5 * 1024 ** 3) === '5.0 GB', 'large sizes');
});
