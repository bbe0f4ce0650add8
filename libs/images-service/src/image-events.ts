import { ImageDeleted, ImageTagged } from '@strata/api/events/v1/images';
import type { EventSink } from '@strata/kit';
import type { ReferenceChange } from '@strata/registry-http';
import { repositoryName, type ImageNaming } from './image-names.js';

/** Settings of {@link createImageEvents}. */
export interface ImageEventsOptions {
  /** Where the events go (the service's sink, with its source). */
  events: EventSink;
  /** How local repositories are named (see ImageNaming): the same as the Images service's. */
  localDomains: readonly string[];
}

/** Publishes `image.tagged` and `image.deleted` for reference changes. */
export interface ImageEvents {
  /**
   * `image.tagged` (data ImageTagged) for a tag set or moved, `image.deleted`
   * (data ImageDeleted) for a tag or digest reference removed; subject and
   * `ref` are the reference as the Images API names it
   * (`docker.io/library/busybox:latest`, `127.0.0.1:5050/local/app:v1`, or
   * `domain/repository@sha256:…` for a digest reference). Never throws.
   */
  publish(change: ReferenceChange): void;
}

/**
 * The one place that builds image reference events: the Images service
 * publishes through it, and the registry-mirror passes its publish to
 * createLocalBackend's onReferenceChange so pushes (manifest PUT) and HTTP
 * deletes publish the same events with the same source.
 */
export function createImageEvents(options: ImageEventsOptions): ImageEvents {
  const { events } = options;
  const naming: ImageNaming = { localDomains: options.localDomains };
  return {
    publish(change) {
      if (change.kind === 'tagged') {
        const { record } = change;
        const ref = `${repositoryName(record.domain, record.repository, naming)}:${record.tag}`;
        events.publish('image.tagged', ref, ImageTagged.toJSON({ ref, digest: record.digest, mediaType: record.mediaType, previousDigest: change.previousDigest ?? '' }));
        return;
      }
      const repository = repositoryName(change.domain, change.repository, naming);
      const ref = change.tag === undefined ? `${repository}@${change.digest}` : `${repository}:${change.tag}`;
      events.publish('image.deleted', ref, ImageDeleted.toJSON({ ref, digest: change.digest, imageDeleted: change.imageDeleted }));
    },
  };
}
