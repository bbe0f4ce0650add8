import type { ContainerConfig, Descriptor } from '@strata/oci';

/** What the agent needs to know of an image to run it. */
export interface ImageInfo {
  /** Image id: the config digest. */
  id: string;
  /** The image manifest of the platform asked for. */
  manifest: Descriptor;
  /** The run configuration (`config` of the image config). */
  config: ContainerConfig;
  /** The layers' diff_ids, bottom first. */
  diffIds: string[];
  /** The image config's architecture (Go's names: amd64, 386, arm64…); it decides the syscall ABIs the seccomp filter admits. */
  architecture?: string;
}

/** Where images are looked up (the registry-mirror's Images API). */
export interface ImageSource {
  /**
   * The image ref names, for platform (`os/arch[/variant]`, the node's when
   * undefined). Raises NotFound "No such image: ref" when the mirror does
   * not know it, InvalidArgument for a malformed reference, Unavailable when
   * the mirror cannot be reached.
   */
  inspect(ref: string, platform?: string): Promise<ImageInfo>;
}

/** Unpacks images into this host's snapshotter (the snapshotter's Diff service). */
export interface Unpacker {
  /**
   * Applies every layer of the manifest that is not unpacked yet, bottom
   * first, as committed snapshots named by chain ID; the iteration ends
   * when all are there. Raises what the Diff service raises.
   */
  unpack(manifest: Descriptor, options?: { signal?: AbortSignal }): AsyncIterable<{ chainId: string }>;
}
