import { invalidArgument } from '@strata/kit';
import { isDomain, isRepositoryPath, isTag, parseDigest, MAX_REPOSITORY_PATH_LENGTH } from '@strata/oci';
import { tagName, type ListTagsOptions, type TagRecord } from './tag-store.js';

const shown = (value: unknown): string => {
  if (typeof value !== 'string') return String(value);
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
};

/**
 * Checks the three parts of a tag's name, in that order, before they become
 * a storage key. Raises InvalidArgument naming the first bad part: a domain
 * that is not a registry host with an optional port (`docker.io`,
 * `localhost:5000`, `local`), a repository that is not a lower-case
 * distribution path of at most 255 characters (`library/busybox`), or a tag
 * outside `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
 */
export function validateTagKey(domain: string, repository: string, tag: string): void {
  validateDomain(domain);
  validateRepository(repository);
  if (!isTag(tag)) {
    throw invalidArgument(
      `invalid tag ${shown(tag)}: a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"`,
      { fields: { tag: typeof tag === 'string' ? tag.slice(0, 200) : undefined } },
    );
  }
}

function validateDomain(domain: string): void {
  if (!isDomain(domain)) {
    throw invalidArgument(`invalid registry domain ${shown(domain)}: expected a host name with an optional port, e.g. docker.io or localhost:5000`, {
      fields: { domain: typeof domain === 'string' ? domain.slice(0, 200) : undefined },
    });
  }
}

function validateRepository(repository: string): void {
  if (!isRepositoryPath(repository)) {
    throw invalidArgument(
      `invalid repository name ${shown(repository)}: expected lower-case components separated by "/", at most ${MAX_REPOSITORY_PATH_LENGTH} characters, e.g. library/busybox`,
      { fields: { repository: typeof repository === 'string' ? repository.slice(0, 200) : undefined } },
    );
  }
}

/**
 * Checks a record before it is stored: its name with {@link validateTagKey},
 * then its digest with parseDigest (whose message it raises), then that
 * mediaType is a non-empty string, size a whole number of bytes and
 * updatedAt a valid Date. Raises InvalidArgument naming the field.
 */
export function validateTagRecord(record: TagRecord): void {
  validateTagKey(record.domain, record.repository, record.tag);
  parseDigest(record.digest);
  const name = tagName(record.domain, record.repository, record.tag);
  if (typeof record.mediaType !== 'string' || record.mediaType === '') {
    throw invalidArgument(`tag ${name} needs the media type of what it points at`, { fields: { tag: name } });
  }
  if (!Number.isSafeInteger(record.size) || record.size < 0) {
    throw invalidArgument(`tag ${name}: size must be a whole number of bytes, 0 or more; got ${record.size}`, { fields: { tag: name } });
  }
  if (!(record.updatedAt instanceof Date) || Number.isNaN(record.updatedAt.getTime())) {
    throw invalidArgument(`tag ${name}: updatedAt must be a valid date`, { fields: { tag: name } });
  }
}

/**
 * Checks list options: domain and repository as in {@link validateTagKey},
 * `after` only together with both domain and repository (it pages through
 * one repository's tags), and limit a whole number, 0 or more. Raises
 * InvalidArgument naming the option.
 */
export function validateListTagsOptions(options: ListTagsOptions): void {
  if (options.domain !== undefined) validateDomain(options.domain);
  if (options.repository !== undefined) validateRepository(options.repository);
  if (options.after !== undefined) {
    if (typeof options.after !== 'string') throw invalidArgument(`list "after" must be a tag; got ${shown(options.after)}`);
    if (options.domain === undefined || options.repository === undefined) {
      throw invalidArgument('listing tags after a tag needs the domain and repository the tags belong to');
    }
  }
  if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 0)) {
    throw invalidArgument(`list limit must be a whole number, 0 or more; got ${options.limit}`);
  }
}
