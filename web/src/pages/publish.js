// publish.js - create a listing, edit it (the card with a live preview),
// create versions, upload their files (upload.js) and publish them, then
// publish the listing on-chain from the seller's wallet (onchain.js).

import { api, seg } from '../api.js';
import { h, mount } from '../dom.js';
import { session } from '../session.js';
import {
  pageState,
  busy, clearErrors, emptyState, errorAlert, field, formAlert, setTitle, showErrors, spinner, toast,
} from '../components.js';
import { formatBytes, formatDate, tokensToUnits, unitsToTokens } from '../format.js';
import { renderMarkdown, splitFrontMatter } from '../markdown.js';
import { requireUser } from '../auth.js';
import { uploadPanel } from '../upload.js';
import { go } from '../main.js';

const CARD_TEMPLATE = `---
task: text-classification
library: onnx
license: apache-2.0
tags: [example]
---

# Model name

## Description

What the model does, its architecture and size.

## Intended use

Who should use it, for what.

## Training data

## Evaluation

| metric | value |
| --- | ---: |
| accuracy | 0.00 |

## Limitations and bias
`;

const VISIBILITY = [
  ['public', 'Public: listed and searchable'],
  ['unlisted', 'Unlisted: anyone with the link'],
  ['private', 'Private: only you'],
  ['draft', 'Draft: only you, not ready yet'],
];

const listOf = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

function metaPreview(meta) {
  const entries = Object.entries(meta).filter(([, v]) => (Array.isArray(v) ? v.length : v));
  if (!entries.length) return null;
  return h('div.d-flex.flex-wrap.gap-1.mb-3', entries.map(([k, v]) =>
    h('span.badge.bg-body-secondary.text-body.border.text-wrap', `${k}: ${Array.isArray(v) ? v.join(', ') : v}`)));
}

// The listing form, shared by create and edit. Returns {form, read()}.
function listingForm(model) {
  const creating = !model;
  const m = model || { title: '', summary: '', card: CARD_TEMPLATE, visibility: 'public', price: '0', tags: [] };
  // The preview scrolls: it is a focusable, named region for keyboard users.
  const preview = h('div.markdown-body.card-preview.border.rounded-3.p-3', {
    id: 'card-preview', 'aria-live': 'off', tabindex: '0', role: 'region', 'aria-label': 'Card preview',
  });
  const card = h('textarea.form-control.font-monospace.card-editor', { id: 'fld-card', name: 'card', rows: 22, spellcheck: 'true', 'aria-describedby': 'fld-card-help fld-card-fb' });
  card.value = m.card || '';
  let timer = null;
  const update = () => {
    const { meta, body } = splitFrontMatter(card.value);
    mount(preview, metaPreview(meta), body.trim() ? renderMarkdown(body) : h('p.text-body-secondary', 'The preview of your card shows here.'));
  };
  card.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 120);
  });
  update();

  const form = h('form', { id: 'listing-form', novalidate: true },
    formAlert(),
    h('div.row.g-3',
      h(creating ? 'div.col-md-6' : 'div.col-12', field({ label: 'Title', name: 'title', required: true, value: m.title, attrs: { maxlength: 120 } })),
      creating ? h('div.col-md-6', field({ label: 'Slug', name: 'slug', required: true,
        help: `The address: ${session.user ? session.user.username : 'you'}/slug. Lowercase letters, digits, . _ - (up to 64).`,
        attrs: { maxlength: 64, autocapitalize: 'none', spellcheck: 'false', pattern: '[a-z0-9]([a-z0-9._\\-]{0,62}[a-z0-9])?' } })) : null,
      h('div.col-12', field({ label: 'Summary', name: 'summary', value: m.summary, help: 'One or two sentences shown in search results (up to 300 characters).', attrs: { maxlength: 300 } })),
      h('div.col-md-4', field({ label: 'Visibility', name: 'visibility', value: m.visibility, options: VISIBILITY })),
      h('div.col-md-4', field({ label: `Price (tokens)`, name: 'price', value: unitsToTokens(m.price), help: 'AGR; 0 for a free model. A paid model is sold once it is published on-chain (edit page).', attrs: { inputmode: 'decimal' } })),
      h('div.col-md-4', field({ label: 'Tags', name: 'tags', value: (m.tags || []).join(', '), help: 'Comma-separated; overrides the card\u2019s tags when set.' }))),
    h('div.row.g-3.mt-1',
      h('div.col-lg-6',
        h('label.form-label', { for: 'fld-card' }, 'Model card (Markdown)'),
        card,
        h('div.form-text', { id: 'fld-card-help' }, 'YAML front matter (task, library, license, tags, datasets, metrics, language, base_model) fills the listing\u2019s fields. Raw HTML is shown as text.'),
        h('div.invalid-feedback', { id: 'fld-card-fb' })),
      h('div.col-lg-6',
        h('div.form-label', { id: 'preview-label' }, 'Preview'),
        h('div', { role: 'region', 'aria-labelledby': 'preview-label' }, preview))),
    h('div.mt-3.d-flex.gap-2',
      h('button.btn.btn-primary', { type: 'submit' }, creating ? 'Create listing' : 'Save changes'),
      creating ? null : h('a.btn.btn-outline-secondary', { href: `#/m/${encodeURIComponent(model.owner)}/${encodeURIComponent(model.slug)}` }, 'View listing')));

  // Until the slug is edited by hand, it follows the title.
  if (creating) {
    const slugIn = form.elements.slug;
    let touched = false;
    slugIn.addEventListener('input', () => { touched = slugIn.value !== ''; });
    form.elements.title.addEventListener('input', () => {
      if (touched) return;
      slugIn.value = form.elements.title.value.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
        .replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 64).replace(/[^a-z0-9]+$/, '');
    });
  }

  const read = () => {
    const f = form.elements;
    const units = tokensToUnits(f.price.value || '0');
    if (units === null) {
      const e = new Error('Enter the price as a number of tokens, such as 0, 2 or 0.5 (at most 18 decimals).');
      e.field = 'price';
      throw e;
    }
    const body = { title: f.title.value.trim(), summary: f.summary.value.trim(), card: card.value, visibility: f.visibility.value, price: units };
    if (creating) body.slug = f.slug.value.trim();
    const tags = listOf(f.tags.value);
    if (tags.length || !creating) {
      // On edit an empty field clears explicit tags only if the card has none either.
      if (tags.length) body.tags = tags;
      else if (!creating && !splitFrontMatter(card.value).meta.tags) body.tags = [];
    }
    return body;
  };
  return { form, read };
}

export async function publishPage({ main }) {
  setTitle('Publish a model');
  if (!requireUser(main, 'publish a model')) return;
  const { form, read } = listingForm(null);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const body = read();
      const m = await busy(form.querySelector('button[type="submit"]'), () => api('POST', '/models', { body }));
      toast('Listing created. Now add a version.');
      go(`#/m/${encodeURIComponent(m.owner)}/${encodeURIComponent(m.slug)}/edit`);
    } catch (err) {
      showErrors(form, err);
    }
  });
  mount(main,
    h('h1.h3', 'Publish a model'),
    h('p.text-body-secondary', 'Create the listing first; then add versions with their files, and publish it on-chain to sell licences.'),
    h('div.card', h('div.card-body.p-md-4', form)));
  form.elements.title.focus();
}

function versionRow(model, v, reload) {
  const actions = [];
  if (v.state === 'draft') {
    const pub = h('button.btn.btn-sm.btn-success', { type: 'button', 'aria-label': `Publish version ${v.version}` }, 'Publish');
    pub.addEventListener('click', async () => {
      try {
        await busy(pub, () => api('POST', seg`/models/${model.owner}/${model.slug}/versions/${v.version}/publish`));
        toast(`Version ${v.version} published.`);
        reload();
      } catch (err) {
        toast(err.message, 'danger');
      }
    });
    actions.push(pub);
  }
  return h('li.list-group-item.version-row', { dataset: { version: v.version } },
    h('div.d-flex.flex-wrap.align-items-center.gap-2',
      h('span.fw-semibold', `v${v.version}`),
      v.state === 'draft' ? h('span.badge.text-bg-warning', 'Draft') : h('span.badge.text-bg-success', 'Published'),
      h('span.small.text-body-secondary', v.published_at ? `published ${formatDate(v.published_at)}` : `created ${formatDate(v.created_at)}`),
      h('span.small.text-body-secondary', `${(v.files || []).length} file(s)`),
      h('span.ms-auto.d-flex.gap-2', actions)),
    v.changelog ? h('p.small.mb-0.mt-1.changelog', v.changelog) : null,
    v.files && v.files.length ? h('ul.list-unstyled.small.mb-0.mt-1.version-files', { 'aria-label': `Files of version ${v.version}` },
      v.files.map((f) => h('li.text-break', h('code', f.name), ` \u00b7 ${formatBytes(f.size)} \u00b7 `,
        f.cid ? h('code', f.cid) : h('span.text-body-secondary', 'not uploaded')))) : null,
    v.state === 'draft' ? h('div.mt-2', uploadPanel(model, v, () => reload())) : null);
}

export async function editPage({ main, params, signal }) {
  const { owner, slug } = params;
  setTitle(`Edit ${owner}/${slug}`);
  if (!requireUser(main, 'edit a model')) return;
  mount(main, spinner());
  let model;
  try {
    model = await api('GET', seg`/models/${owner}/${slug}`, { signal });
  } catch (err) {
    if (err.status === 404) {
      mount(main, pageState('Model not found', `There is no model ${owner}/${slug} you can edit.`));
      return;
    }
    throw err;
  }
  if (model.owner !== session.user.username && session.user.role !== 'admin') {
    mount(main, pageState('Not your model', 'Only the owner can edit this listing.',
      h('a.btn.btn-primary', { href: `#/m/${encodeURIComponent(owner)}/${encodeURIComponent(slug)}` }, 'View it')));
    return;
  }
  const { form, read } = listingForm(model);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const body = read();
      model = await busy(form.querySelector('button[type="submit"]'), () => api('PATCH', seg`/models/${owner}/${slug}`, { body }));
      toast('Listing saved.');
    } catch (err) {
      showErrors(form, err);
    }
  });

  const versionsBox = h('div', spinner('Loading versions\u2026'));
  const chainBox = h('div', spinner('Loading the chain\u2026'));
  const vform = h('form', { id: 'version-form', novalidate: true },
    formAlert(),
    h('div.row.g-3',
      h('div.col-sm-4', field({ label: 'Version', name: 'version', required: true, help: 'Semantic version, e.g. 1.0.0 or 2.0.0-rc.1.', attrs: { autocapitalize: 'none', spellcheck: 'false', maxlength: 64 } })),
      h('div.col-sm-8', field({ label: 'Changelog', name: 'changelog', textarea: true, attrs: { rows: 2, maxlength: 65536 } }))),
    h('div.form-check.mb-3',
      h('input.form-check-input', { type: 'checkbox', id: 'ver-publish', name: 'publish' }),
      h('label.form-check-label', { for: 'ver-publish' }, 'Publish now (published versions cannot be changed)')),
    h('button.btn.btn-primary', { type: 'submit' }, 'Create version'));

  const loadVersions = async () => {
    try {
      const r = await api('GET', seg`/models/${owner}/${slug}/versions`, { signal });
      mount(versionsBox, r.versions.length ? h('ul.list-group', { id: 'version-list' }, r.versions.map((v) => versionRow(model, v, loadVersions)))
        : emptyState('No versions yet', 'Create the first version below.'));
      // The wallet code (ethers) loads only here, not with the rest of the UI.
      import('../onchain.js').then(({ chainPanel }) => mount(chainBox, chainPanel(model, r.versions, loadVersions)))
        .catch((err) => mount(chainBox, errorAlert(err, loadVersions)));
    } catch (err) {
      if (err.name !== 'AbortError') mount(versionsBox, errorAlert(err, loadVersions));
    }
  };
  vform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(vform);
    const body = { version: vform.elements.version.value.trim(), changelog: vform.elements.changelog.value, publish: vform.elements.publish.checked };
    try {
      await busy(vform.querySelector('button[type="submit"]'), () => api('POST', seg`/models/${owner}/${slug}/versions`, { body }));
      toast(`Version ${body.version} ${body.publish ? 'published' : 'saved as a draft'}.`);
      vform.reset();
      loadVersions();
    } catch (err) {
      showErrors(vform, err);
    }
  });

  const del = h('button.btn.btn-outline-danger', { type: 'button', id: 'delete-model' }, 'Delete this listing');
  del.addEventListener('click', async () => {
    if (!window.confirm(`Delete ${owner}/${slug} with all its versions and reviews? This cannot be undone.`)) return;
    try {
      await busy(del, () => api('DELETE', seg`/models/${owner}/${slug}`));
      toast('Listing deleted.');
      go(`#/u/${encodeURIComponent(session.user.username)}`);
    } catch (err) {
      toast(err.message, 'danger');
    }
  });

  mount(main,
    h('nav', { 'aria-label': 'Breadcrumb' }, h('ol.breadcrumb.small',
      h('li.breadcrumb-item', h('a', { href: `#/m/${encodeURIComponent(owner)}/${encodeURIComponent(slug)}` }, `${owner}/${slug}`)),
      h('li.breadcrumb-item.active', { 'aria-current': 'page' }, 'Edit'))),
    h('h1.h3.mb-3', `Edit ${model.title || slug}`),
    h('section.card.mb-4', { 'aria-labelledby': 'lst-h' }, h('div.card-body.p-md-4', h('h2.h5', { id: 'lst-h' }, 'Listing and card'), form)),
    h('section.card.mb-4', { 'aria-labelledby': 'vers-h' }, h('div.card-body.p-md-4',
      h('h2.h5', { id: 'vers-h' }, 'Versions'), versionsBox, h('hr'), h('h3.h6', 'New version'), vform)),
    h('section.card.mb-4', { 'aria-labelledby': 'chain-h' }, h('div.card-body.p-md-4',
      h('h2.h5', { id: 'chain-h' }, 'On-chain'), chainBox)),
    h('section.card.border-danger-subtle', { 'aria-labelledby': 'danger-h' }, h('div.card-body',
      h('h2.h6', { id: 'danger-h' }, 'Danger zone'), h('p.small.text-body-secondary', 'Deleting removes the listing, its versions, likes and reviews.'), del)));
  await loadVersions();
}
