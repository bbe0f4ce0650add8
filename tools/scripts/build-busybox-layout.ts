/**
 * Builds a busybox image (Debian's busybox-static binary plus its applet
 * links) — or, with KIND `web`, a busybox httpd image serving a page — with
 * Strata's own image builder and writes it as an OCI image layout, so the
 * quick start has real images without the internet.
 * Usage: npx tsx tools/scripts/build-busybox-layout.ts DIR [TAG] [busybox|web]
 */
import { busyboxImage, webImage, writeOciLayout } from '@strata/image-fixtures';

const [dir, tag = 'latest', kind = 'busybox'] = process.argv.slice(2);
if (dir === undefined || (kind !== 'busybox' && kind !== 'web')) {
  process.stderr.write('usage: build-busybox-layout.ts DIR [TAG] [busybox|web]\n');
  process.exit(2);
}
const image = kind === 'web' ? await webImage() : await busyboxImage();
const descriptor = await writeOciLayout(dir, image, { tag });
process.stdout.write(`${descriptor.digest}\n`);
