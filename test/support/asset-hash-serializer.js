// Snapshot serializer: asset hashes change with every source edit, so mask them and keep
// snapshots about the template's shape. Image Builder versions are derived from those hashes
// (constructs/node-image), so they are masked too.
const HASH = /[0-9a-f]{64}/;
const DERIVED_VERSION = '[DERIVED-VERSION]';
const isImageBuilderVersioned = (val) =>
  val !== null &&
  typeof val === 'object' &&
  typeof val.Type === 'string' &&
  val.Type.startsWith('AWS::ImageBuilder::') &&
  typeof val.Properties?.Version === 'string' &&
  val.Properties.Version !== DERIVED_VERSION;
module.exports = {
  test: (val) => (typeof val === 'string' && HASH.test(val)) || isImageBuilderVersioned(val),
  serialize: (val, config, indentation, depth, refs, printer) =>
    typeof val === 'string'
      ? JSON.stringify(val.replace(new RegExp(HASH.source, 'g'), '[ASSET-HASH]'))
      : printer(
          { ...val, Properties: { ...val.Properties, Version: DERIVED_VERSION } },
          config,
          indentation,
          depth,
          refs,
        ),
};
