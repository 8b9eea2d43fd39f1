// format.js - how numbers, prices, sizes and dates read on the page.

export const TOKEN_DECIMALS = 18;
export const TOKEN_SYMBOL = 'AGR';

// "5000000000000000000" -> "5 AGR"; "0" -> "Free". Exact (string arithmetic).
export function formatPrice(units) {
  const s = String(units ?? '0').replace(/^0+(?=\d)/, '');
  if (!/^\d+$/.test(s)) return String(units);
  if (s === '0') return 'Free';
  const padded = s.padStart(TOKEN_DECIMALS + 1, '0');
  const int = padded.slice(0, -TOKEN_DECIMALS);
  const frac = padded.slice(-TOKEN_DECIMALS).replace(/0+$/, '');
  return `${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac ? '.' + frac : ''} ${TOKEN_SYMBOL}`;
}

export function isFree(units) {
  return /^0*$/.test(String(units ?? '0'));
}

// "1.5" (tokens) -> "1500000000000000000" (smallest units); null when invalid.
export function tokensToUnits(text) {
  const t = String(text).trim();
  const m = /^(\d{1,59})(?:\.(\d{1,18}))?$/.exec(t);
  if (!m) return null;
  const units = (m[1] + (m[2] || '').padEnd(TOKEN_DECIMALS, '0')).replace(/^0+(?=\d)/, '');
  return units;
}

// Smallest units -> a decimal token string for an input field.
export function unitsToTokens(units) {
  const p = formatPrice(units);
  return p === 'Free' ? '0' : p.replace(/ .*$/, '').replace(/,/g, '');
}

export function formatCount(n) {
  const v = Number(n) || 0;
  if (v < 1000) return String(v);
  if (v < 1e6) return `${(v / 1e3).toFixed(v < 1e4 ? 1 : 0).replace(/\.0$/, '')}k`;
  return `${(v / 1e6).toFixed(1).replace(/\.0$/, '')}M`;
}

export function formatBytes(n) {
  let v = Number(n) || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// Unix seconds -> "25 Nov 2026".
export function formatDate(secs) {
  if (!secs) return '';
  return new Date(secs * 1000).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

// Unix seconds -> "3 days ago".
export function timeAgo(secs) {
  if (!secs) return '';
  const d = Math.max(0, Date.now() / 1000 - secs);
  if (d < 45) return 'just now';
  const steps = [[3600, 60, 'minute'], [86400, 3600, 'hour'], [2592000, 86400, 'day'],
    [31536000, 2592000, 'month'], [Infinity, 31536000, 'year']];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const [, div, unit] = steps.find(([limit]) => d < limit);
  return rtf.format(-Math.max(1, Math.round(d / div)), unit);
}
