/**
 * The pure Docker-shaped views of containers and images (inspect, list and
 * history shapes, state and status texts, Docker's time and duration texts),
 * for clients that show Docker's shapes without serving the API: this
 * module imports no HTTP, gRPC or NATS code (the `strata` CLI loads it).
 */
export * from './container-view.js';
export * from './image-views.js';
export * from './restart-views.js';
export * from './human-time.js';
export * from './mount-views.js';
export * from './volume-views.js';
export * from './health-views.js';
