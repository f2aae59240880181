// The place for the next issue's releases page (route #/releases, nav entry `nav-releases` hidden in index.html).

import { h, fill } from '../dom.js';

export default async function releasesPage(ctx) {
  ctx.setTitle('Releases');
  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Releases')),
    h('section', { class: 'card empty', dataset: { test: 'releases-placeholder' } },
      'Releases come with the next version of Vamp for Swift.'));
  ctx.ready();
}
