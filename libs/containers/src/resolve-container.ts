import { invalidArgument, notFound } from '@strata/kit';

/** What {@link resolveContainer} needs of a container. */
export interface Named {
  id: string;
  name: string;
}

/**
 * Finds the container ref names, as Docker does: a full id, then a name
 * (with or without a leading `/`), then a unique prefix of an id. Raises
 * NotFound "No such container: ref" when nothing matches, InvalidArgument
 * "multiple containers match prefix ref" when a prefix is ambiguous and
 * for an empty ref.
 */
export function resolveContainer<T extends Named>(containers: Iterable<T>, ref: string): T {
  if (ref === '') throw invalidArgument('a container name or id is required');
  const all = [...containers];
  const byId = all.find((c) => c.id === ref);
  if (byId !== undefined) return byId;
  const name = ref.startsWith('/') ? ref.slice(1) : ref;
  const byName = all.find((c) => c.name === name);
  if (byName !== undefined) return byName;
  const prefixed = /^[0-9a-f]+$/.test(ref) ? all.filter((c) => c.id.startsWith(ref)) : [];
  if (prefixed.length > 1) throw invalidArgument(`multiple containers match prefix ${ref}`, { fields: { ref } });
  const only = prefixed[0];
  if (only === undefined) throw notFound(`No such container: ${ref}`, { fields: { ref } });
  return only;
}
