// Snapshot serializer: asset hashes change with every source edit, so mask them and keep
// snapshots about the template's shape.
const HASH = /[0-9a-f]{64}/;
module.exports = {
  test: (val) => typeof val === 'string' && HASH.test(val),
  serialize: (val) => JSON.stringify(val.replace(new RegExp(HASH.source, 'g'), '[ASSET-HASH]')),
};
