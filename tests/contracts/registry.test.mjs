// registry.test.mjs - ModelRegistry on a real dev chain: registration, publishing, immutability, lineage, events, reverts.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ZeroHash } from 'ethers';
import { startChain, freshSet, devWallet, expectRevert, mined, eventsOf, slug, sha, newModel } from './lib.mjs';

let chain, fresh, set, seller, other;

before(async () => { chain = await startChain(); fresh = freshSet(chain.provider); });
after(() => chain?.stop());
beforeEach(async () => {
  set = await fresh();
  seller = devWallet(chain.provider, 1);
  other = devWallet(chain.provider, 2);
});

test('registerModel mints a token to the caller with sequential ids and an event', async () => {
  const reg = set.registry.connect(seller);
  const rc = await mined(reg.registerModel(slug('alice/resnet'), 'ipfs://card1'));
  const [ev] = eventsOf(set.registry, rc, 'ModelRegistered');
  assert.equal(ev.args.modelId, 1n);
  assert.equal(ev.args.owner, seller.address);
  assert.equal(ev.args.slugHash, slug('alice/resnet'));
  assert.equal(ev.args.metadataURI, 'ipfs://card1');
  assert.equal(eventsOf(set.registry, rc, 'Transfer').length, 1, 'ERC-721 Transfer from zero');
  assert.equal(await set.registry.ownerOf(1n), seller.address);
  assert.equal(await set.registry.tokenURI(1n), 'ipfs://card1');
  assert.equal(await set.registry.modelIdBySlug(slug('alice/resnet')), 1n);
  const rc2 = await mined(set.registry.connect(other).registerModel(slug('bob/bert'), ''));
  assert.equal(eventsOf(set.registry, rc2, 'ModelRegistered')[0].args.modelId, 2n);
  assert.equal(await set.registry.totalModels(), 2n);
  const m = await set.registry.getModel(2n);
  assert.equal(m.owner, other.address);
  assert.equal(m.numVersions, 0n);
});

test('registerModel rejects a taken slug and a zero slug', async () => {
  await mined(set.registry.connect(seller).registerModel(slug('alice/x'), ''));
  await expectRevert(set.registry.connect(other).registerModel(slug('alice/x'), ''), 'SlugTaken', [slug('alice/x'), 1n]);
  await expectRevert(set.registry.connect(other).registerModel(ZeroHash, ''), 'ZeroSlugHash');
  await expectRevert(set.registry.connect(other).registerModel(slug('y'), 'u'.repeat(513)), 'InvalidLength', ['metadataURI', 513n, 512n]);
});

test('publishVersion records every field and emits VersionPublished', async () => {
  const parent = await newModel(set.registry, other, 'bob/base');
  const reg = set.registry.connect(seller);
  await mined(reg.registerModel(slug('alice/ft'), ''));
  const id = 2n;
  const ds = [sha('imagenet'), sha('coco')];
  const rc = await mined(reg.publishVersion(id, '1.0.0', 'bafyabc', sha('w1'), [parent], ds, sha('meta1')));
  const [ev] = eventsOf(set.registry, rc, 'VersionPublished');
  assert.equal(ev.args.modelId, id);
  assert.equal(ev.args.versionIndex, 0n);
  assert.equal(ev.args.publisher, seller.address);
  assert.equal(ev.args.version, '1.0.0');
  assert.equal(ev.args.contentCID, 'bafyabc');
  assert.equal(ev.args.sha256Hash, sha('w1'));
  assert.deepEqual([...ev.args.parentModelIds], [parent]);
  assert.deepEqual([...ev.args.datasetHashes], ds);
  assert.equal(ev.args.metadataHash, sha('meta1'));
  const v = await set.registry.getVersion(id, 0n);
  assert.equal(v.version, '1.0.0');
  assert.equal(v.contentCID, 'bafyabc');
  assert.equal(v.sha256Hash, sha('w1'));
  assert.deepEqual([...v.parentModelIds], [parent]);
  assert.deepEqual([...v.datasetHashes], ds);
  assert.equal(v.blockNumber, BigInt(rc.blockNumber));
  assert.ok(v.publishedAt > 0n);
  await mined(reg.publishVersion(id, '1.1.0', 'bafydef', sha('w2'), [], [], ZeroHash));
  assert.equal(await set.registry.versionCount(id), 2n);
  assert.equal(await set.registry.versionIndexOf(id, '1.1.0'), 1n);
  assert.equal(await set.registry.latestVersionIndex(id), 1n);
  const all = await set.registry.getVersions(id);
  assert.deepEqual(all.map((x) => x.version), ['1.0.0', '1.1.0']);
});

test('publishing by a non-owner reverts', async () => {
  const id = await newModel(set.registry, seller, 'alice/m');
  await expectRevert(
    set.registry.connect(other).publishVersion(id, '2.0.0', 'bafy', sha('x'), [], [], ZeroHash),
    'NotModelOwner', [id, other.address]);
  await expectRevert(set.registry.connect(other).setMetadataURI(id, 'x'), 'NotModelOwner', [id, other.address]);
  await expectRevert(set.registry.connect(other).publishVersion(99n, '1', 'bafy', sha('x'), [], [], ZeroHash), 'ModelNotFound', [99n]);
});

test('versions are immutable: a version label publishes once, stored fields never change', async () => {
  const id = await newModel(set.registry, seller, 'alice/m');
  const before = await set.registry.getVersion(id, 0n);
  await expectRevert(
    set.registry.connect(seller).publishVersion(id, '1.0.0', 'bafyother', sha('other'), [], [], ZeroHash),
    'VersionExists', [id, '1.0.0']);
  const after = await set.registry.getVersion(id, 0n);
  assert.deepEqual(after.toArray().map(String), before.toArray().map(String));
  // there is no function that edits or deletes a version
  const writers = set.registry.interface.fragments.filter((f) => f.type === 'function' && !f.constant).map((f) => f.name);
  assert.deepEqual(writers.filter((n) => /version/i.test(n)), ['publishVersion']);
});

test('publishVersion validates its fields', async () => {
  await mined(set.registry.connect(seller).registerModel(slug('alice/v'), ''));
  const r = set.registry.connect(seller);
  await expectRevert(r.publishVersion(1n, '', 'bafy', sha('x'), [], [], ZeroHash), 'InvalidLength', ['version', 0n, 64n]);
  await expectRevert(r.publishVersion(1n, 'v'.repeat(65), 'bafy', sha('x'), [], [], ZeroHash), 'InvalidLength', ['version', 65n, 64n]);
  await expectRevert(r.publishVersion(1n, '1', '', sha('x'), [], [], ZeroHash), 'InvalidLength', ['contentCID', 0n, 128n]);
  await expectRevert(r.publishVersion(1n, '1', 'b'.repeat(129), sha('x'), [], [], ZeroHash), 'InvalidLength', ['contentCID', 129n, 128n]);
  await expectRevert(r.publishVersion(1n, '1', 'bafy', ZeroHash, [], [], ZeroHash), 'ZeroContentHash');
  await expectRevert(r.publishVersion(1n, '1', 'bafy', sha('x'), [1n], [], ZeroHash), 'SelfParent', [1n]);
  await expectRevert(r.publishVersion(1n, '1', 'bafy', sha('x'), [7n], [], ZeroHash), 'ParentNotFound', [7n]);
  const p = await newModel(set.registry, other, 'bob/p');
  await expectRevert(r.publishVersion(1n, '1', 'bafy', sha('x'), [p, p], [], ZeroHash), 'DuplicateParent', [p]);
  const many = Array.from({ length: 17 }, () => p);
  await expectRevert(r.publishVersion(1n, '1', 'bafy', sha('x'), many, [], ZeroHash), 'TooManyParents', [17n, 16n]);
  const ds = Array.from({ length: 33 }, (_, i) => sha(`d${i}`));
  await expectRevert(r.publishVersion(1n, '1', 'bafy', sha('x'), [], ds, ZeroHash), 'TooManyDatasets', [33n, 32n]);
  assert.equal(await set.registry.versionCount(1n), 0n, 'nothing stored by failed calls');
  await expectRevert(set.registry.latestVersionIndex(1n), 'NoVersions', [1n]);
  await expectRevert(set.registry.getVersion(1n, 0n), 'VersionNotFound', [1n, 0n]);
  await expectRevert(set.registry.versionCount(5n), 'ModelNotFound', [5n]);
});

test('lineage is queryable per version and follows a chain of derivations', async () => {
  const a = await newModel(set.registry, other, 'bob/a');
  const b = await newModel(set.registry, other, 'bob/b');
  const c = await newModel(set.registry, seller, 'alice/c', [a, b]);
  const d = await newModel(set.registry, seller, 'alice/d', [c]);
  assert.deepEqual([...(await set.registry.parentsOf(c, 0n))], [a, b]);
  assert.deepEqual([...(await set.registry.latestParents(d))], [c]);
  // walk d's ancestry through the chain
  const seen = [];
  const queue = [d];
  while (queue.length) {
    const m = queue.shift();
    for (const p of await set.registry.latestParents(m)) { seen.push(p); queue.push(p); }
  }
  assert.deepEqual(seen, [c, a, b]);
  // a later version may change parents; the earlier version keeps its own
  await mined(set.registry.connect(seller).publishVersion(c, '2.0.0', 'bafyc2', sha('c2'), [a], [], ZeroHash));
  assert.deepEqual([...(await set.registry.parentsOf(c, 0n))], [a, b]);
  assert.deepEqual([...(await set.registry.latestParents(c))], [a]);
});

test('the model token transfers like any ERC-721, and the new owner publishes', async () => {
  const id = await newModel(set.registry, seller, 'alice/t');
  await mined(set.registry.connect(seller).transferFrom(seller.address, other.address, id));
  assert.equal(await set.registry.ownerOf(id), other.address);
  await expectRevert(set.registry.connect(seller).publishVersion(id, '2', 'bafy', sha('2'), [], [], ZeroHash), 'NotModelOwner', [id, seller.address]);
  await mined(set.registry.connect(other).publishVersion(id, '2', 'bafy', sha('2'), [], [], ZeroHash));
  const rc = await mined(set.registry.connect(other).setMetadataURI(id, 'ipfs://new'));
  assert.equal(eventsOf(set.registry, rc, 'MetadataURIUpdated')[0].args.metadataURI, 'ipfs://new');
  assert.equal(await set.registry.tokenURI(id), 'ipfs://new');
});
