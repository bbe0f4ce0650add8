export * from './images.js';
export * from './image-events.js';
export * from './images-service.js';
export * from './image-names.js';
export * from './image-catalog.js';
export * from './list-filters.js';
export { historyOf, toImageSummary, toProtoImage, toProtoDescriptor, toProtoPlatform, type ImageNames } from './proto-convert.js';
