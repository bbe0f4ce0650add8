export * from './layer.js';
export * from './image.js';
export * from './oci-layout.js';
export * from './push.js';
export * from './fixtures.js';
export * from './registry.js';
export * from './busybox-rootfs.js';
