/** Label of a committed unpacked snapshot: its chain ID, so it can be found by filter. */
export const SNAPSHOT_REF_LABEL = 'strata.snapshot.ref';
/** Label of a committed unpacked snapshot: the digest of the layer blob it was applied from. */
export const LAYER_DIGEST_LABEL = 'strata.snapshot.layer.digest';
/** Label of a committed unpacked snapshot: the layer's diff_id. */
export const LAYER_DIFF_ID_LABEL = 'strata.snapshot.layer.diff-id';
/** Label of an active snapshot an unpack applies a layer into: the chain ID it will be committed as. */
export const EXTRACT_LABEL = 'strata.snapshot.extract';
