/**
 * Builds a busybox image (Debian's busybox-static binary plus its applet
 * links) with Strata's own image builder and writes it as an OCI image
 * layout, so the quick start has a real image without the internet.
 * Usage: npx tsx tools/scripts/build-busybox-layout.ts DIR [TAG]
 */
import { busyboxImage, writeOciLayout } from '@strata/image-fixtures';

const [dir, tag = 'latest'] = process.argv.slice(2);
if (dir === undefined) {
  process.stderr.write('usage: build-busybox-layout.ts DIR [TAG]\n');
  process.exit(2);
}
const image = await busyboxImage();
const descriptor = await writeOciLayout(dir, image, { tag });
process.stdout.write(`${descriptor.digest}\n`);
