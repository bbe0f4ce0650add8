import { ContainersService } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { isNotFound } from '@strata/kit';
import { isDigest, parseReference } from '@strata/oci';
import { dockerError } from './docker-error.js';
import { queryBool } from './docker-query.js';
import type { DockerContext, DockerRoute } from './docker-router.js';

/** What the commit route translates onto. */
export interface CommitRouteDeps {
  /** A client of the node-agent's own `Containers` service. */
  containers: RpcClient;
}

/** Fields of the commit body (a container Config) that carry no image setting and are ignored, as an image keeps none of them. */
const RUNTIME_FIELDS = new Set(['Hostname', 'Domainname', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'Image', 'NetworkDisabled', 'MacAddress', 'StopTimeout', 'ArgsEscaped']);

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringField(config: Record<string, unknown>, key: string): string | undefined {
  const v = config[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw dockerError(400, `invalid commit config: ${key} must be a string`);
  return v;
}

function listField(config: Record<string, unknown>, key: string): string[] | undefined {
  const v = config[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (!isStringList(v)) throw dockerError(400, `invalid commit config: ${key} must be a list of strings`);
  return v;
}

function keysField(config: Record<string, unknown>, key: string): string[] {
  const v = config[key];
  if (v === undefined || v === null) return [];
  if (!isObject(v)) throw dockerError(400, `invalid commit config: ${key} must be an object`);
  return Object.keys(v);
}

/**
 * The Dockerfile instructions (`changes` of the Commit rpc) that apply the
 * container Config of a `POST /commit` body on top of the container's own
 * config, as Docker merges it: Entrypoint → ENTRYPOINT and Cmd → CMD (JSON
 * form, in that order so that both stay), Env → ENV per entry, ExposedPorts → EXPOSE, Volumes → VOLUME,
 * Labels → LABEL, User → USER, WorkingDir → WORKDIR, StopSignal →
 * STOPSIGNAL, OnBuild → ONBUILD. `null` or `{}` gives none. Fields of a
 * running container only (Tty, OpenStdin, Hostname…) are ignored.
 * DockerError 400 for a body that is not an object, a mistyped field, or a
 * field Strata cannot commit (Healthcheck, Shell, anything unknown).
 */
export function commitConfigChanges(body: unknown): string[] {
  if (body === null || body === undefined) return [];
  if (!isObject(body)) throw dockerError(400, 'invalid commit config: the body must be a container config object');
  const changes: string[] = [];
  for (const key of Object.keys(body)) {
    if (RUNTIME_FIELDS.has(key)) continue;
    if (!['Cmd', 'Entrypoint', 'Env', 'ExposedPorts', 'Volumes', 'Labels', 'User', 'WorkingDir', 'StopSignal', 'OnBuild'].includes(key)) {
      if (body[key] === null) continue;
      throw dockerError(400, `invalid commit config: ${key} cannot be committed by Strata; use changes=… (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)`);
    }
  }
  // ENTRYPOINT first: a later ENTRYPOINT would drop the CMD, as in a Dockerfile.
  const entrypoint = listField(body, 'Entrypoint');
  if (entrypoint !== undefined) changes.push(`ENTRYPOINT ${JSON.stringify(entrypoint)}`);
  const cmd = listField(body, 'Cmd');
  if (cmd !== undefined) changes.push(`CMD ${JSON.stringify(cmd)}`);
  for (const env of listField(body, 'Env') ?? []) {
    if (!env.includes('=')) throw dockerError(400, `invalid commit config: Env entry ${JSON.stringify(env)} is not KEY=value`);
    changes.push(`ENV ${env.slice(0, env.indexOf('='))}=${JSON.stringify(env.slice(env.indexOf('=') + 1))}`);
  }
  for (const port of keysField(body, 'ExposedPorts')) changes.push(`EXPOSE ${port}`);
  const volumes = keysField(body, 'Volumes');
  if (volumes.length > 0) changes.push(`VOLUME ${JSON.stringify(volumes)}`);
  const labels = body.Labels;
  if (labels !== undefined && labels !== null) {
    if (!isObject(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
      throw dockerError(400, 'invalid commit config: Labels must be an object of strings');
    }
    for (const [k, v] of Object.entries(labels)) changes.push(`LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`);
  }
  const user = stringField(body, 'User');
  if (user !== undefined) changes.push(`USER ${user}`);
  const workdir = stringField(body, 'WorkingDir');
  if (workdir !== undefined) changes.push(`WORKDIR ${workdir}`);
  const stopSignal = stringField(body, 'StopSignal');
  if (stopSignal !== undefined) changes.push(`STOPSIGNAL ${stopSignal}`);
  for (const onBuild of listField(body, 'OnBuild') ?? []) changes.push(`ONBUILD ${onBuild}`);
  return changes;
}

/**
 * The reference a commit tags, from `repo` and `tag` (`latest` when
 * empty), normalized. Strata keeps no untagged images, so repo is
 * required: DockerError 400 without it; InvalidArgument with Docker's texts
 * for a malformed name or tag, and `refusing to create a tag with a digest
 * reference` for a digest.
 */
export function commitReference(query: URLSearchParams): string {
  const repo = query.get('repo') ?? '';
  const tag = query.get('tag') ?? '';
  if (repo === '') {
    throw dockerError(400, 'a commit needs a repository name (repo=…): Strata keeps no untagged images, so name the new image');
  }
  const ref = parseReference(repo);
  if (ref.digest !== undefined || isDigest(tag)) throw dockerError(400, 'refusing to create a tag with a digest reference');
  return (tag === '' ? ref : ref.withTag(tag)).toString();
}

async function commit(ctx: DockerContext, containers: RpcClient): Promise<void> {
  const container = ctx.query.get('container') ?? '';
  if (container === '') throw dockerError(400, 'container is required: the container to commit, e.g. container=web');
  const reference = commitReference(ctx.query);
  const pause = queryBool(ctx.query, 'pause', true);
  const changes = [...commitConfigChanges(await ctx.readJson()), ...ctx.query.getAll('changes').filter((c) => c.trim() !== '')];
  try {
    const response = await containers.unary(ContainersService.commit, {
      id: container,
      reference,
      message: ctx.query.get('comment') ?? '',
      author: ctx.query.get('author') ?? '',
      changes,
      pause,
    });
    ctx.json(201, { Id: response.imageId });
  } catch (err) {
    if (isNotFound(err)) throw dockerError(404, `No such container: ${container}`, { cause: err });
    throw err;
  }
}

/**
 * `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`
 * with a container Config body, through the node-agent's Containers Commit
 * rpc as `strata commit` calls it: answers 201 `{"Id": "sha256:…"}`. 400
 * for a missing container or repo, malformed names, bad changes; 404
 * `No such container: <id>`; 409 when the container cannot be committed
 * in its state.
 */
export function commitRoute(deps: CommitRouteDeps): DockerRoute {
  return { method: 'POST', path: '/commit', handle: (ctx) => commit(ctx, deps.containers) };
}
