import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, lstat, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyLayer } from '@strata/layer-diff';
import type { Digest } from '@strata/oci';
import { resolveInRoot } from '@strata/runtime-spec';
import { createDirectoryTar } from '@strata/tar';

/** Media type of an uncompressed layer: what the copy is unpacked as. */
const TAR = 'application/vnd.oci.image.layer.v1.tar';

/**
 * Copies what the image has at target into a volume whose data directory
 * is empty, as Docker does when a container first mounts an empty volume
 * over a directory of its image. The rootfs is hostile: target is resolved
 * inside it with chroot semantics (a symlink, in target or in the image,
 * never leads out of it: resolveInRoot), the directory is packed with the
 * project's tar writer (symlinks are stored as links, never followed) into
 * a file under tmpDir, hashed, and unpacked into data with applyLayer's
 * extractor (names never climb above data, links are resolved inside it,
 * devices refused). The volume's root takes the mode and owner of the
 * image's directory. Nothing is done when data has files, or when the image
 * has no directory at target. Resolves with whether it copied.
 */
export async function copyImageContent(rootfs: string, target: string, data: string, tmpDir: string): Promise<boolean> {
  if ((await readdir(data)).length > 0) return false;
  const source = await resolveInRoot(await realpath(rootfs), target, `volume path "${target}"`);
  if (!source.exists) return false;
  const st = await lstat(source.hostPath);
  if (!st.isDirectory()) return false;
  const scratch = await mkdtemp(join(tmpDir, '.volume-copy-'));
  try {
    const file = join(scratch, 'layer.tar');
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(createDirectoryTar(source.hostPath), hashing, createWriteStream(file, { mode: 0o600 }));
    const digest = `sha256:${hash.digest('hex')}` as Digest;
    await applyLayer({ blob: createReadStream(file), mediaType: TAR, digest, diffId: digest, target: data, mode: 'native' });
    await chown(data, st.uid, st.gid);
    await chmod(data, st.mode & 0o7777);
    return true;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
