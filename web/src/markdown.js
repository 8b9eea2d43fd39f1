// markdown.js - model cards: YAML front matter split off, Markdown rendered
// safely.
//
// markdown-it runs with html:false, so raw HTML in a card is escaped and
// shows as text; its link validator already refuses javascript:, vbscript:
// and file: URLs. The result is then parsed into an inert <template> and
// walked against an allowlist of elements and attributes before anything
// reaches the page: only what Markdown itself produces survives. Table
// alignment becomes classes (the CSP forbids style attributes) and images
// other than data: URLs become links (the CSP only loads images from the
// node itself, and cards must not make the browser call third parties).
// Headings are shifted one level down so the page keeps a single <h1>.

import MarkdownIt from 'markdown-it';

const MAX_CARD = 262144; // the API's cap on card length

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

// Card headings sit below the page's own <h1>: # becomes <h2>, and so on.
md.core.ruler.push('align_to_class', (state) => {
  for (const tok of state.tokens) {
    if (tok.type === 'heading_open' || tok.type === 'heading_close') {
      tok.tag = `h${Math.min(6, Number(tok.tag.slice(1)) + 1)}`;
    }
    const style = tok.attrGet && tok.attrGet('style');
    if (style) {
      const m = /text-align:\s*(left|center|right)/.exec(style);
      tok.attrs = tok.attrs.filter(([k]) => k !== 'style');
      if (m) tok.attrJoin('class', { left: 'text-start', center: 'text-center', right: 'text-end' }[m[1]]);
    }
  }
});

const ALLOWED = {
  P: [], H1: [], H2: [], H3: [], H4: [], H5: [], H6: [], UL: [], OL: ['start'], LI: [],
  A: ['href', 'title'], EM: [], STRONG: [], CODE: ['class'], PRE: [], BLOCKQUOTE: [], HR: [],
  BR: [], TABLE: [], THEAD: [], TBODY: [], TR: [], TH: ['class'], TD: ['class'], IMG: ['src', 'alt', 'title'],
  S: [], DEL: [],
};

// An inline image: one of the raster types, as well-formed base64 (padding
// only at the end), so the browser never meets a data: URL it cannot parse.
const DATA_IMAGE =
  /^data:image\/(png|jpeg|gif|webp);base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function safeHref(href) {
  const h = href.trim();
  if (/^(https?:|mailto:)/i.test(h)) return h;
  if (/^#/.test(h)) return null; // in-page anchors would fight the hash router
  if (/^[a-z][a-z0-9+.-]*:/i.test(h)) return null;
  return null; // relative links have no meaning outside the card's repository
}

function clean(node) {
  for (const child of [...node.childNodes]) {
    if (child.nodeType === Node.TEXT_NODE) continue;
    if (child.nodeType !== Node.ELEMENT_NODE || !ALLOWED[child.tagName]) {
      child.replaceWith(document.createTextNode(child.textContent || ''));
      continue;
    }
    const keep = ALLOWED[child.tagName];
    for (const attr of [...child.attributes]) {
      if (!keep.includes(attr.name)) child.removeAttribute(attr.name);
    }
    if (child.tagName === 'CODE' && child.hasAttribute('class') &&
        !/^language-[\w+-]{1,40}$/.test(child.getAttribute('class'))) child.removeAttribute('class');
    if ((child.tagName === 'TH' || child.tagName === 'TD') && child.hasAttribute('class') &&
        !/^text-(start|center|end)$/.test(child.getAttribute('class'))) child.removeAttribute('class');
    if (child.tagName === 'A') {
      const href = safeHref(child.getAttribute('href') || '');
      if (href) {
        child.setAttribute('href', href);
        child.setAttribute('rel', 'noopener noreferrer nofollow');
        child.setAttribute('target', '_blank');
      } else {
        child.removeAttribute('href');
      }
    }
    if (child.tagName === 'IMG') {
      const src = child.getAttribute('src') || '';
      if (!DATA_IMAGE.test(src)) {
        const alt = child.getAttribute('alt') || 'image';
        const safe = safeHref(src);
        const repl = document.createElement(safe ? 'a' : 'span');
        repl.textContent = `[image: ${alt}]`;
        if (safe) {
          repl.setAttribute('href', safe);
          repl.setAttribute('rel', 'noopener noreferrer nofollow');
          repl.setAttribute('target', '_blank');
        }
        child.replaceWith(repl);
        continue;
      }
      child.classList.add('img-fluid');
    }
    if (child.tagName === 'TABLE') child.classList.add('table', 'table-sm', 'table-striped');
    // A code block may scroll sideways: keyboard users must reach it.
    if (child.tagName === 'PRE') child.setAttribute('tabindex', '0');
    clean(child);
  }
}

// Splits "---\nyaml\n---\nbody" into {meta, body}. meta maps keys to a
// string or an array of strings (a small YAML subset: scalars, [a, b] flow
// lists and "- item" block lists; nested maps are kept as text).
export function splitFrontMatter(text) {
  const src = String(text || '').replace(/^\uFEFF/, '');
  const m = /^---[ \t]*\r?\n([\s\S]*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/.exec(src);
  if (!m) return { meta: {}, body: src };
  const meta = {};
  let key = null;
  for (const raw of m[1].split(/\r?\n/)) {
    const line = raw.replace(/\s+#.*$/, '');
    if (!line.trim()) continue;
    const item = /^\s+-\s+(.*)$/.exec(line) || /^-\s+(.*)$/.exec(line);
    if (item && key) {
      if (!Array.isArray(meta[key])) meta[key] = [];
      meta[key].push(unquote(item[1]));
      continue;
    }
    const kv = /^([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(line);
    if (kv) {
      key = kv[1];
      const v = kv[2].trim();
      if (v === '') meta[key] = [];
      else if (/^\[.*\]$/.test(v)) meta[key] = v.slice(1, -1).split(',').map(unquote).filter(Boolean);
      else meta[key] = unquote(v);
    }
  }
  return { meta, body: src.slice(m[0].length) };
}

function unquote(s) {
  const t = s.trim();
  if (/^(['"]).*\1$/.test(t)) return t.slice(1, -1);
  return t;
}

// Renders Markdown into a fresh DocumentFragment that holds only allowed
// elements.
export function renderMarkdown(text) {
  const tpl = document.createElement('template');
  tpl.innerHTML = md.render(String(text || '').slice(0, MAX_CARD));
  clean(tpl.content);
  return document.importNode(tpl.content, true);
}
