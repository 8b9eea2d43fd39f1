// test_markdown.mjs - the model-card renderer (web/src/markdown.js) in the
// real browser, against hostile cards: raw HTML, event handlers, script and
// data URLs, external images, style attributes, nested tricks. Nothing may
// come out as a live element or attribute beyond what Markdown produces,
// and front matter must be split off into fields.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, launch, newPage, run } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, '..', '..', 'web', 'src', 'markdown.js');

const HOSTILE = [
  '<script>window.__xss=1</script>',
  '<img src=x onerror="window.__xss=2">',
  '<svg onload="window.__xss=3"></svg>',
  '<iframe src="javascript:window.__xss=4"></iframe>',
  '[x](javascript:window.__xss=5)',
  '[x](JaVaScRiPt:window.__xss=6)',
  '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[x](vbscript:msgbox)',
  '![x](https://tracker.example/pixel.png)',
  '![x](javascript:window.__xss=7)',
  '<a href="javascript:window.__xss=8">x</a>',
  '<div style="position:fixed">x</div>',
  '<details open ontoggle="window.__xss=9">x</details>',
  '`<script>window.__xss=10</script>`',
  '```html\n<script>window.__xss=11</script>\n```',
  '<!-- <script>window.__xss=12</script> -->',
  '[x](https://example.org "a\\" onmouseover=\\"window.__xss=13")',
  '<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=14>',
  '| a | b |\n|:--|--:|\n| <b>1</b> | 2 |',
  'https://example.org/autolinked and <https://example.org/angle>',
];

run('browser.markdown', async () => {
  const bundle = await build({
    entryPoints: [src], bundle: true, write: false, format: 'iife', globalName: 'AgoraMarkdown',
    nodePaths: [path.join(here, '..', '..', 'node_modules')], logLevel: 'warning',
  });
  const browser = await launch();
  try {
    const p = await newPage(browser);
    await p.page.goto('about:blank');
    await p.page.addScriptTag({ content: bundle.outputFiles[0].text });
    const report = await p.page.evaluate((cards) => {
      const { renderMarkdown, splitFrontMatter } = window.AgoraMarkdown;
      const allowed = new Set(['P', 'H2', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI', 'A', 'EM', 'STRONG', 'CODE', 'PRE',
        'BLOCKQUOTE', 'HR', 'BR', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'IMG', 'S', 'DEL', 'SPAN']);
      const bad = [];
      const box = document.createElement('div');
      document.body.append(box);
      for (const card of cards) {
        box.replaceChildren(renderMarkdown(card));
        for (const el of box.querySelectorAll('*')) {
          if (!allowed.has(el.tagName)) bad.push(`${card}: <${el.tagName}>`);
          for (const a of el.attributes) {
            if (/^on/i.test(a.name) || a.name === 'style') bad.push(`${card}: ${a.name}=`);
            if ((a.name === 'href' || a.name === 'src') && !/^(https?:|mailto:|data:image\/)/i.test(a.value)) bad.push(`${card}: ${a.name}=${a.value}`);
          }
          if (el.tagName === 'IMG' && !/^data:image\//.test(el.getAttribute('src') || '')) bad.push(`${card}: external image`);
        }
      }
      // What does survive, and how.
      box.replaceChildren(renderMarkdown('| a | b |\n|:--|--:|\n| <b>1</b> | 2 |'));
      const table = { cls: box.querySelector('td:last-child')?.className, text: box.querySelector('td')?.textContent };
      box.replaceChildren(renderMarkdown('# Title\n\n![alt](https://tracker.example/p.png) [ok](https://example.org)'));
      const shaped = {
        h: box.querySelector('h2')?.textContent,
        img: box.textContent.includes('[image: alt]'),
        rel: box.querySelector('a[href="https://example.org"]')?.getAttribute('rel'),
      };
      box.replaceChildren(renderMarkdown('<script>x</script>'));
      const shown = box.textContent;
      const fm = splitFrontMatter('---\ntask: translation\ntags: [a, "b c"]\ndatasets:\n  - wmt14\n  - opus # comment\nlicense: "mit"\n---\n# Body\n');
      const noFm = splitFrontMatter('# No front matter\n---\n');
      return { bad, table, shaped, shown, fm, noFm, xss: window.__xss };
    }, HOSTILE);
    check(report.bad.length === 0, report.bad.join('\n'));
    check(report.xss === undefined, `hostile card ran code: ${report.xss}`);
    check(report.table.cls === 'text-end' && report.table.text === '<b>1</b>', `table: ${JSON.stringify(report.table)}`);
    check(report.shaped.h === 'Title', 'headings shift below the page h1');
    check(report.shaped.img, 'external image becomes a link');
    check(/noopener/.test(report.shaped.rel || '') && /nofollow/.test(report.shaped.rel || ''), 'links carry rel=noopener nofollow');
    check(report.shown.trim() === '<script>x</script>', 'raw HTML reads as text');
    check(report.fm.meta.task === 'translation', 'front matter scalar');
    check(JSON.stringify(report.fm.meta.tags) === '["a","b c"]', `front matter flow list ${JSON.stringify(report.fm.meta.tags)}`);
    check(JSON.stringify(report.fm.meta.datasets) === '["wmt14","opus"]', `front matter block list ${JSON.stringify(report.fm.meta.datasets)}`);
    check(report.fm.meta.license === 'mit', 'quoted scalar');
    check(report.fm.body === '# Body\n', 'front matter stripped from the body');
    check(JSON.stringify(report.noFm.meta) === '{}' && report.noFm.body.startsWith('# No'), 'no front matter, body untouched');
    const problems = p.take();
    check(problems.length === 0, problems.join('; '));
  } finally {
    await browser.close();
  }
});
